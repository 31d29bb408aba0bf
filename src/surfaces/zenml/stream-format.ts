/**
 * ZenML's stream framings over the shared event log: SSE (`retry: 5000`, `event: connected`, then
 * one named event per ZenML event, each with its own id) and the WebSocket (`WS /stream`: the first frame is a
 * PipelineRequest that starts the run; events go out as JSON frames).
 */
import { captureRequest } from "../../capture/capture-request";
import { findPipeline } from "../../catalog";
import { ApiError } from "../../errors/api-error";
import { validatePipelineInput } from "../../http/pipeline-input";
import type { StartRunRequest } from "../../runs/protocol";
import { encodeSseFrame, eventFrameId } from "../../sse/frame";
import type { SocketProtocol, SocketStartBase, StreamFormat } from "../../streams/format";
import { zenmlEvent, zenmlTimestamp } from "./events";
import { captureOverride, pipelineRequestSchema } from "./schemas";
import { nestsTooDeep, TOO_DEEP_MESSAGE } from "../../http/json-depth";

export const zenmlStreamFormat: StreamFormat = {
  preamble: (context) =>
    `retry: 5000\n\n${encodeSseFrame({
      event: "connected",
      data: JSON.stringify({
        job_id: context.runId,
        status: context.status === "cancelled" ? "canceled" : context.status,
        message: "Connected to job event stream",
        timestamp: zenmlTimestamp(Date.now()),
      }),
    })}`,
  render(event, context) {
    // One run event may become several ZenML events: each gets its own id (`7`, `7.1`).
    return zenmlEvent(event, context).map((e, part) => encodeSseFrame({ id: eventFrameId(event.seq, part), event: e.event_type, data: JSON.stringify(e) }));
  },
};

/** ZenML's WebSocket: a PipelineRequest frame starts the run; every event is a ZenML event frame. */
export const zenmlSocketProtocol: SocketProtocol = {
  async parseStart(frame: string, base: SocketStartBase): Promise<StartRunRequest | { error: string }> {
    try {
      const pipeline = findPipeline(base.pipeline);
      if (!pipeline) return { error: `no pipeline named '${base.pipeline}' is deployed` };
      let json: unknown;
      try {
        json = JSON.parse(frame);
      } catch {
        return { error: "invalid request frame: not JSON" };
      }
      if (nestsTooDeep(json)) return { error: `invalid request frame: ${TOO_DEEP_MESSAGE}` };
      const parsed = pipelineRequestSchema.safeParse(json);
      if (!parsed.success) {
        return { error: `invalid request frame: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}` };
      }
      return {
        runId: base.runId,
        pipeline: pipeline.name,
        input: validatePipelineInput(pipeline, parsed.data.parameters, { where: ["parameters"] }),
        headers: base.headers,
        surface: "zenml",
        runTimeoutSeconds: parsed.data.timeout,
        capture: await captureRequest(base.settings, pipeline, base.runId, captureOverride(parsed.data)),
        ...(typeof parsed.data.run_name === "string" ? { runName: parsed.data.run_name } : {}),
      };
    } catch (error) {
      const details = error instanceof ApiError && error.details ? `: ${error.details.map((d) => `${d.path.join(".")}: ${d.message}`).join("; ")}` : "";
      return { error: `${error instanceof Error ? error.message : String(error)}${details}` };
    }
  },
  render: (event, context) => zenmlEvent(event, context).map((e) => JSON.stringify(e)),
  errorFrame: (message) => JSON.stringify({ event: "error", error: message, timestamp: zenmlTimestamp(Date.now()) }),
};
