/** The native API's SSE framing: every event, named by its type, with its JSON (results decoded when they are JSON). */
import { resultAsJson } from "../../runs/result-json";
import { encodeSseFrame } from "../../sse/frame";
import { resultOfEvent, type StreamFormat } from "../../streams/format";

export const nativeStreamFormat: StreamFormat = {
  preamble: () => "",
  render(event, context) {
    // A streamed delta travels light: the step, its number within the step's attempt, the text.
    if (event.type === "step_delta") {
      const { index, delta, attempt } = event.data ?? {};
      return [encodeSseFrame({ id: event.seq, event: "step_delta", data: JSON.stringify({ step: event.step, index, delta, attempt }) })];
    }
    const body: Record<string, unknown> = { seq: event.seq, type: event.type, at: new Date(event.at).toISOString() };
    if (event.step !== undefined) body.step = event.step;
    if (event.data !== undefined) body.data = event.data;
    const result = resultOfEvent(event, context);
    if (result) body.result = resultAsJson(result);
    return [encodeSseFrame({ id: event.seq, event: event.type, data: JSON.stringify(body) })];
  },
};
