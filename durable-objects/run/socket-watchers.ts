/**
 * WebSocket watchers of a run (ZenML's `WS /stream`), on the Durable Object hibernation API: the
 * runtime holds the sockets, so an idle watcher costs nothing and survives the object being
 * evicted; what each socket is for lives in its attachment, not in memory. The frames themselves
 * are the surface's (src/streams/format.ts `SocketProtocol`).
 */
import type { BlockSlot } from "../../src/admission/protocol";
import type { RunEvent } from "../../src/runs/protocol";
import { isTerminalEvent, type SocketProtocol, type StreamContext } from "../../src/streams/format";

export const SOCKET_TAG = "watcher";

/** What a socket is waiting for; kept with `serializeAttachment` (≤ 16 KiB). */
export interface SocketAttachment {
  runId: string;
  pipeline: string;
  headers: Record<string, string>;
  /** The admission slot taken by the Worker for this socket's run. */
  slot: BlockSlot | null;
  /** Whether the client's request frame has started the run. */
  started: boolean;
  /** Whether the slot went back because no run started (exactly once). */
  slotReleased: boolean;
}

/** Normal closure once the run has ended (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000;
/** The request frame was not valid. */
export const CLOSE_POLICY_VIOLATION = 1008;

export function attachmentOf(socket: WebSocket): SocketAttachment | null {
  return socket.deserializeAttachment() as SocketAttachment | null;
}

/** Sends an event to every socket whose run has started. */
export function publishToSockets(state: DurableObjectState, protocol: SocketProtocol, event: RunEvent, contextOf: () => StreamContext): void {
  const sockets = state.getWebSockets(SOCKET_TAG).filter((s) => attachmentOf(s)?.started);
  if (sockets.length === 0) return;
  const frames = protocol.render(event, contextOf());
  for (const socket of sockets) {
    try {
      for (const frame of frames) socket.send(frame);
      if (isTerminalEvent(event)) socket.close(CLOSE_NORMAL, "run ended");
    } catch {
      // The client has gone; the runtime drops the socket.
    }
  }
}

/** The protocol's error frame, then a close. */
export function failSocket(socket: WebSocket, protocol: SocketProtocol, message: string): void {
  try {
    socket.send(protocol.errorFrame(message));
    socket.close(CLOSE_POLICY_VIOLATION, "invalid request");
  } catch {
    // already gone
  }
}
