/**
 * edgeserve's run events as ZenML serving events (`ServingEvent.to_dict`: event_type, job_id,
 * timestamp, data, step_name, level, message, error), used by `/stream/{id}` and the WebSocket.
 * One run event may become two ZenML events (a step start is followed by its progress update, whose
 * `progress_percent` is the share of steps completed before it, so 100 is never reached while a
 * step is still to run); on SSE each gets its own id (stream-format.ts). Queue and retry notes of queued steps become `log` events; results become none.
 */
import type { RunEvent } from "../../runs/protocol";
import { timedOutAfter } from "../../runs/run-timeout";
import type { StreamContext } from "../../streams/format";

export interface ZenmlEvent {
  event_type: string;
  job_id: string;
  timestamp: string;
  data: Record<string, unknown>;
  step_name: string | null;
  level: "info" | "warning" | "error";
  message: string;
  error: string | null;
}

/** Python's `datetime.isoformat()` for UTC: microseconds and `+00:00`. */
export function zenmlTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000+00:00");
}

const seconds = (ms: unknown) => (typeof ms === "number" ? ms / 1000 : null);

/**
 * ZenML's progress while `step` runs: the steps before it have completed, so the last step's
 * start is not 100 %; only the end is.
 */
function progressOf(step: string, context: StreamContext) {
  const current = context.steps.indexOf(step) + 1;
  const total = context.steps.length;
  const completed = Math.max(current - 1, 0);
  return {
    current_step: current,
    total_steps: total,
    current_step_name: step,
    progress_percent: total === 0 ? 0 : Math.round((completed / total) * 1000) / 10,
  };
}

/** ZenML's error for a run that outlived its timeout. */
export function zenmlTimeoutError(seconds: number): string {
  return `Pipeline execution timed out after ${seconds}s`;
}

/** A job's `error` in ZenML's words for a timeout (`zenmlTimeoutError`); other errors as they are. */
export function zenmlJobError(message: string): string {
  const timeout = timedOutAfter(message);
  return timeout === undefined ? message : zenmlTimeoutError(timeout);
}

export function zenmlEvent(event: RunEvent, context: StreamContext): ZenmlEvent[] {
  const base = { job_id: context.runId, timestamp: zenmlTimestamp(event.at), step_name: null, level: "info" as const, error: null };
  const elapsed = (event.at - context.createdAt) / 1000;
  switch (event.type) {
    case "run_started":
      return [
        {
          ...base,
          event_type: "pipeline_started",
          data: { pipeline_name: context.pipeline, parameters: context.parameters() },
          message: `Pipeline '${context.pipeline}' started`,
        },
      ];
    case "step_started": {
      const step = event.step ?? "";
      const progress = progressOf(step, context);
      return [
        { ...base, event_type: "step_started", step_name: step, data: {}, message: `Step '${step}' started` },
        {
          ...base,
          event_type: "progress_update",
          step_name: step,
          data: progress,
          message: `Step ${progress.current_step}/${progress.total_steps}: '${step}'`,
        },
      ];
    }
    case "step_delta": {
      // A streamed piece of the step's output: a progress update (what a ZenML client already
      // reads while a step runs), with the text in its data; the progress itself does not move.
      const step = event.step ?? "";
      return [
        {
          ...base,
          event_type: "progress_update",
          step_name: step,
          data: {
            ...progressOf(step, context),
            delta: event.data?.delta ?? "",
            delta_index: event.data?.index ?? null,
            attempt: event.data?.attempt ?? null,
          },
          message: `Step '${step}' streamed output`,
        },
      ];
    }
    case "step_queued":
      return [
        {
          ...base,
          event_type: "log",
          step_name: event.step ?? null,
          data: { queued: true, send: event.data?.send ?? null },
          message: `Step '${event.step}' queued`,
        },
      ];
    case "step_retrying":
      return [
        {
          ...base,
          event_type: "log",
          step_name: event.step ?? null,
          level: "warning",
          error: String(event.data?.error ?? ""),
          data: { attempt: event.data?.attempt ?? null, retry_in_seconds: event.data?.delay_s ?? null },
          message: `Step '${event.step}' attempt ${String(event.data?.attempt ?? "?")} failed; retrying in ${String(event.data?.delay_s ?? "?")} s`,
        },
      ];
    case "step_interrupted":
      return [
        {
          ...base,
          event_type: "log",
          step_name: event.step ?? null,
          level: "warning",
          error: String(event.data?.reason ?? ""),
          data: { attempt: event.data?.attempt ?? null },
          message: `Step '${event.step}' attempt ${String(event.data?.attempt ?? "?")} was interrupted; running it again`,
        },
      ];
    case "step_send_failed":
      return [
        {
          ...base,
          event_type: "log",
          step_name: event.step ?? null,
          level: "warning",
          error: String(event.data?.error ?? ""),
          data: { send_failures: event.data?.failures ?? null, retry_in_seconds: seconds(event.data?.retry_in_ms) },
          message: `Step '${event.step}' could not be sent; trying again in ${String(seconds(event.data?.retry_in_ms) ?? "?")} s`,
        },
      ];
    case "step_completed":
      return [
        {
          ...base,
          event_type: "step_completed",
          step_name: event.step ?? null,
          data: { execution_time: seconds(event.data?.ms), output: event.data?.output ?? null },
          message: `Step '${event.step}' completed`,
        },
      ];
    case "step_failed":
      return [
        {
          ...base,
          event_type: "step_failed",
          step_name: event.step ?? null,
          level: "error",
          error: String(event.data?.error ?? "step failed"),
          data: { execution_time: seconds(event.data?.ms) },
          message: `Step '${event.step}' failed`,
        },
      ];
    case "run_completed":
      return [
        {
          ...base,
          event_type: "pipeline_completed",
          data: {
            pipeline_name: context.pipeline,
            execution_time: elapsed,
            result: context.results(),
            steps_executed: event.data?.steps_executed ?? null,
          },
          message: `Pipeline '${context.pipeline}' completed`,
        },
      ];
    case "run_failed":
      return [
        {
          ...base,
          event_type: "pipeline_failed",
          level: "error",
          error: zenmlJobError(String(event.data?.message ?? "pipeline failed")),
          data: { pipeline_name: context.pipeline, execution_time: elapsed, failed_step: event.data?.step ?? null },
          message: `Pipeline '${context.pipeline}' failed`,
        },
      ];
    case "run_cancelled":
      return [
        {
          ...base,
          event_type: "cancellation_requested",
          data: { reason: event.data?.reason ?? null },
          message: `Job ${context.runId} was cancelled`,
        },
      ];
    case "result":
      return [];
  }
}
