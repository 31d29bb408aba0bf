/**
 * How each surface frames a run's event log on a stream. All surfaces share one event log; only
 * the framing differs: Numaflow sends bare `data:` results, the native API sends every event.
 */
import { TERMINAL_EVENTS, type ResultItem, type RunEvent } from "../runs/protocol";
import { resultAsJson } from "../runs/result-json";
import { encodeSseFrame } from "./frame";

export type StreamFormatName = "numaflow" | "native";

export interface StreamFormat {
  /** Sent once when a subscriber connects, before any replay. */
  preamble(): string;
  /** The frame for one event, or null when this surface does not show it. */
  render(event: RunEvent, result: ResultItem | undefined): string | null;
}

const decoder = new TextDecoder();

/** Numaflow: each result is one `data:` event (lossy UTF-8, as Numaflow does); failures are named `run_failed`. */
const numaflowFormat: StreamFormat = {
  preamble: () => "",
  render(event, result) {
    if (event.type === "result" && result) {
      return encodeSseFrame({ id: event.seq, data: decoder.decode(result.bytes) });
    }
    if (event.type === "run_failed" || event.type === "run_cancelled") {
      return encodeSseFrame({ id: event.seq, event: event.type, data: JSON.stringify(event.data ?? {}) });
    }
    return null;
  },
};

/** Native: every event, named by type, with its JSON (results decoded when they are JSON). */
const nativeFormat: StreamFormat = {
  preamble: () => "",
  render(event, result) {
    const body: Record<string, unknown> = { seq: event.seq, type: event.type, at: new Date(event.at).toISOString() };
    if (event.step !== undefined) body.step = event.step;
    if (event.data !== undefined) body.data = event.data;
    if (result) body.result = resultAsJson(result);
    return encodeSseFrame({ id: event.seq, event: event.type, data: JSON.stringify(body) });
  },
};

export const STREAM_FORMATS: Record<StreamFormatName, StreamFormat> = {
  numaflow: numaflowFormat,
  native: nativeFormat,
};

export function isTerminalEvent(event: RunEvent): boolean {
  return TERMINAL_EVENTS.includes(event.type);
}
