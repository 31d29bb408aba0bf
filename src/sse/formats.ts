/**
 * How each surface frames a run's event log on a stream. All surfaces share one event log; only
 * the framing differs: Numaflow sends bare `data:` results, ZenML sends its named events
 * (reference/zenml-serving.md §2), the native API sends every event as it is.
 */
import { TERMINAL_EVENTS, type ResultItem, type RunEvent, type RunStatus } from "../runs/protocol";
import { resultAsJson } from "../runs/result-json";
import { zenmlEvent } from "../surfaces/zenml/events";
import { encodeSseFrame } from "./frame";

export type StreamFormatName = "numaflow" | "zenml" | "native";

/** What a format may need to know about the run besides one event. */
export interface StreamContext {
  runId: string;
  pipeline: string;
  status: RunStatus;
  createdAt: number;
  /** The pipeline's non-sink steps in order (ZenML's progress counts them). */
  steps: readonly string[];
  parameters: unknown;
  resultOf(index: number): ResultItem | undefined;
  /** Every result so far, as one JSON value (ZenML's `result`). */
  results(): unknown;
}

export interface StreamFormat {
  /** Sent once when a subscriber connects, before any replay. */
  preamble(context: StreamContext): string;
  /** The frames for one event ("" when this surface does not show it). */
  render(event: RunEvent, context: StreamContext): string;
}

const decoder = new TextDecoder();

function resultOfEvent(event: RunEvent, context: StreamContext): ResultItem | undefined {
  const index = event.type === "result" && typeof event.data?.index === "number" ? event.data.index : undefined;
  return index === undefined ? undefined : context.resultOf(index);
}

/** Numaflow: each result is one `data:` event (lossy UTF-8, as Numaflow does); failures are named `run_failed`. */
const numaflowFormat: StreamFormat = {
  preamble: () => "",
  render(event, context) {
    const result = resultOfEvent(event, context);
    if (event.type === "result" && result) {
      return encodeSseFrame({ id: event.seq, data: decoder.decode(result.bytes) });
    }
    if (event.type === "run_failed" || event.type === "run_cancelled") {
      return encodeSseFrame({ id: event.seq, event: event.type, data: JSON.stringify(event.data ?? {}) });
    }
    return "";
  },
};

/** ZenML: `retry: 5000`, `event: connected`, then one named event per ZenML event. */
const zenmlFormat: StreamFormat = {
  preamble: (context) =>
    `retry: 5000\n\n${encodeSseFrame({
      event: "connected",
      data: JSON.stringify({
        job_id: context.runId,
        status: context.status === "cancelled" ? "canceled" : context.status,
        message: "Connected to job event stream",
        timestamp: new Date().toISOString(),
      }),
    })}`,
  render(event, context) {
    return zenmlEvent(event, context)
      .map((e) => encodeSseFrame({ id: event.seq, event: e.event_type, data: JSON.stringify(e) }))
      .join("");
  },
};

/** Native: every event, named by type, with its JSON (results decoded when they are JSON). */
const nativeFormat: StreamFormat = {
  preamble: () => "",
  render(event, context) {
    const body: Record<string, unknown> = { seq: event.seq, type: event.type, at: new Date(event.at).toISOString() };
    if (event.step !== undefined) body.step = event.step;
    if (event.data !== undefined) body.data = event.data;
    const result = resultOfEvent(event, context);
    if (result) body.result = resultAsJson(result);
    return encodeSseFrame({ id: event.seq, event: event.type, data: JSON.stringify(body) });
  },
};

export const STREAM_FORMATS: Record<StreamFormatName, StreamFormat> = {
  numaflow: numaflowFormat,
  zenml: zenmlFormat,
  native: nativeFormat,
};

export function isTerminalEvent(event: RunEvent): boolean {
  return TERMINAL_EVENTS.includes(event.type);
}
