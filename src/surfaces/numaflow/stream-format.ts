/** Numaflow's SSE framing: each result is one `data:` event (lossy UTF-8, as Numaflow does); failures are named `run_failed`. */
import { encodeSseFrame } from "../../sse/frame";
import { resultOfEvent, type StreamFormat } from "../../streams/format";

const decoder = new TextDecoder();

/**
 * The same, and a streaming step's deltas as `step_delta` events (`{"step","index","delta","attempt"}`),
 * for a client that asks for them (`?deltas=true`): Numaflow itself streams results only.
 */
export const numaflowDeltasStreamFormat: StreamFormat = {
  preamble: () => "",
  render(event, context) {
    if (event.type !== "step_delta") return numaflowStreamFormat.render(event, context);
    const { index, delta, attempt } = event.data ?? {};
    return [encodeSseFrame({ id: event.seq, event: "step_delta", data: JSON.stringify({ step: event.step, index, delta, attempt }) })];
  },
};

export const numaflowStreamFormat: StreamFormat = {
  preamble: () => "",
  render(event, context) {
    const result = resultOfEvent(event, context);
    if (event.type === "result" && result) {
      return [encodeSseFrame({ id: event.seq, data: decoder.decode(result.bytes) })];
    }
    if (event.type === "run_failed" || event.type === "run_cancelled") {
      return [encodeSseFrame({ id: event.seq, event: event.type, data: JSON.stringify(event.data ?? {}) })];
    }
    return [];
  },
};
