/**
 * WebSocket watchers of a run (ZenML's `WS /stream`), on the Durable Object hibernation API: the
 * runtime holds the sockets, so an idle watcher costs nothing and survives the object being
 * evicted; what each socket is for lives in its attachment, not in memory.
 */
import type { RunEvent } from "../../src/runs/protocol";
import { isTerminalEvent, type StreamContext } from "../../src/sse/formats";
import { zenmlEvent, zenmlTimestamp } from "../../src/surfaces/zenml/events";

export const ZENML_SOCKET_TAG = "zenml";

/** What a socket is waiting for; kept with `serializeAttachment` (≤ 16 KiB). */
export interface SocketAttachment {
  runId: string;
  pipeline: string;
  headers: Record<string, string>;
  /** The admission slot taken by the Worker for this socket's run, if any. */
  admission: import("../../src/admission/protocol").AdmissionTicket | null;
  /** Whether the client's request frame has started the run. */
  started: boolean;
}

/** Normal closure once the run has ended (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000;
/** The request frame was not a valid PipelineRequest. */
export const CLOSE_POLICY_VIOLATION = 1008;

export function attachmentOf(socket: WebSocket): SocketAttachment | null {
  return socket.deserializeAttachment() as SocketAttachment | null;
}

/** Sends an event to every socket whose run has started, as ZenML event JSON frames. */
export function publishToSockets(state: DurableObjectState, event: RunEvent, contextOf: () => StreamContext): void {
  const sockets = state.getWebSockets(ZENML_SOCKET_TAG).filter((s) => attachmentOf(s)?.started);
  if (sockets.length === 0) return;
  const frames = zenmlEvent(event, contextOf()).map((e) => JSON.stringify(e));
  for (const socket of sockets) {
    try {
      for (const frame of frames) socket.send(frame);
      if (isTerminalEvent(event)) socket.close(CLOSE_NORMAL, "run ended");
    } catch {
      // The client has gone; the runtime drops the socket.
    }
  }
}

/** ZenML's error frame (`{"event": "error", …}`), then a close. */
export function failSocket(socket: WebSocket, message: string): void {
  try {
    socket.send(JSON.stringify({ event: "error", error: message, timestamp: zenmlTimestamp(Date.now()) }));
    socket.close(CLOSE_POLICY_VIOLATION, "invalid request");
  } catch {
    // already gone
  }
}
