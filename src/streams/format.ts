/**
 * How a surface frames a run's event log on a stream, and how a socket surface starts a run from
 * its first frame. All surfaces share one event log; each brings its own framing
 * (src/surfaces/<name>/stream-format.ts). The Run object only knows this interface: the Worker's
 * entry registers the surfaces' formats, so nothing below the surfaces imports them.
 */
import type { Settings } from "../settings";
import { TERMINAL_EVENTS, type ResultItem, type RunEvent, type RunStatus, type StartRunRequest } from "../runs/protocol";

export type StreamFormatName = "numaflow" | "numaflow-deltas" | "zenml" | "native";

/** What a format may need to know about the run besides one event. */
export interface StreamContext {
  runId: string;
  pipeline: string;
  status: RunStatus;
  createdAt: number;
  /** The pipeline's non-sink steps in order (ZenML's progress counts them). */
  steps: readonly string[];
  /** The run's parameters as capture kept them (redacted, truncated; null when it keeps no payloads), as its record shows them. */
  parameters(): unknown;
  resultOf(index: number): ResultItem | undefined;
  /** Every result so far, as one JSON value (ZenML's `result`). */
  results(): unknown;
}

export interface StreamFormat {
  /** Sent once when a subscriber connects, before any replay. */
  preamble(context: StreamContext): string;
  /**
   * The frames for one event, in order (none when this surface does not show it). Each frame's
   * SSE id is `eventFrameId(event.seq, its index)`, so a resumed stream can start inside an event.
   */
  render(event: RunEvent, context: StreamContext): string[];
}

/** A WebSocket surface: the run starts from the client's first frame; events go out as frames. */
export interface SocketProtocol {
  /** The start request from the first frame, or an error message for the client. */
  parseStart(frame: string, base: SocketStartBase): Promise<StartRunRequest | { error: string }>;
  /** The frames for one event. */
  render(event: RunEvent, context: StreamContext): string[];
  /** The frame that tells the client its request was refused. */
  errorFrame(message: string): string;
}

/** What the Worker knew when it handed the socket over. */
export interface SocketStartBase {
  settings: Settings;
  runId: string;
  pipeline: string;
  headers: Record<string, string>;
}

const formats = new Map<StreamFormatName, StreamFormat>();
let socketProtocol: SocketProtocol | undefined;

export function registerStreamFormat(name: StreamFormatName, format: StreamFormat): void {
  formats.set(name, format);
}

export function registerSocketProtocol(protocol: SocketProtocol): void {
  socketProtocol = protocol;
}

export function streamFormat(name: string): StreamFormat | undefined {
  return formats.get(name as StreamFormatName);
}

export function socketProtocolOf(): SocketProtocol {
  if (!socketProtocol) throw new Error("no WebSocket protocol is registered (src/index.ts registers the surfaces' protocols)");
  return socketProtocol;
}

export function isTerminalEvent(event: RunEvent): boolean {
  return TERMINAL_EVENTS.includes(event.type);
}

/** The result an event names, when it is a `result` event whose bytes can be read now. */
export function resultOfEvent(event: RunEvent, context: StreamContext): ResultItem | undefined {
  const index = event.type === "result" && typeof event.data?.index === "number" ? event.data.index : undefined;
  return index === undefined ? undefined : context.resultOf(index);
}
