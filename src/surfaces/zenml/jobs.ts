/**
 * ZenML's wire shapes built from edgeserve's runs: the `Job` of `/jobs` and the
 * `PipelineResponse` of `/invoke` (reference/zenml-serving.md §1).
 */
import type { RunIndexRow } from "../../engine/run-index";
import { isActive, type RunSnapshot, type RunStatus } from "../../runs/protocol";
import { resultsAsJson } from "../../runs/result-json";
import { zenmlJobError, zenmlTimestamp } from "./events";

export type JobStatus = "pending" | "running" | "completed" | "failed" | "canceled";
export const JOB_STATUSES: readonly JobStatus[] = ["pending", "running", "completed", "failed", "canceled"];

export function jobStatus(status: RunStatus): JobStatus {
  return status === "cancelled" ? "canceled" : status;
}

export function runStatusOf(status: JobStatus): RunStatus {
  return status === "canceled" ? "cancelled" : status;
}

export function deploymentId(pipeline: { name: string; definition: { version: string } }): string {
  return `${pipeline.name}@${pipeline.definition.version}`;
}

const seconds = (from: number, to: number | undefined) => (to === undefined ? null : (to - from) / 1000);

/**
 * When the job started running, as ZenML sets `started_at`: null while it waits in the admission
 * queue, and for good if it ended there (cancelled or timed out before a step ran); then its first
 * step's start (a queued job's wait is not its execution).
 */
function startedAt(snapshot: RunSnapshot): number | null {
  if (snapshot.status === "pending") return null;
  const starts = Object.values(snapshot.steps).flatMap((s) => (s.firstStartedAt === undefined ? [] : [s.firstStartedAt]));
  if (starts.length > 0) return Math.min(...starts);
  return isActive(snapshot.status) ? snapshot.createdAt : null;
}

/** `GET /jobs/{id}`: from the Run object itself. */
export function jobFromSnapshot(snapshot: RunSnapshot): Record<string, unknown> {
  const cancelled = snapshot.error?.code === "run_cancelled";
  const started = startedAt(snapshot);
  return {
    job_id: snapshot.id,
    status: jobStatus(snapshot.status),
    parameters: snapshot.capture.parameters,
    run_name: snapshot.runName ?? null,
    created_at: zenmlTimestamp(snapshot.createdAt),
    started_at: started === null ? null : zenmlTimestamp(started),
    completed_at: snapshot.finishedAt === undefined ? null : zenmlTimestamp(snapshot.finishedAt),
    error: cancelled ? "Execution was cancelled" : snapshot.error ? zenmlJobError(snapshot.error.message) : null,
    result: snapshot.results ? resultsAsJson(snapshot.results) : null,
    execution_time: started === null ? null : seconds(started, snapshot.finishedAt),
    pipeline_name: snapshot.pipeline,
    steps_executed: snapshot.stepsExecuted,
    canceled_by: null,
    cancel_reason: cancelled ? (snapshot.error?.reason ?? null) : null,
  };
}

/** `GET /jobs`: from the D1 run index (previews stand in for the payloads). */
export function jobFromIndex(row: RunIndexRow): Record<string, unknown> {
  const parse = (text: string | null) => (text === null ? null : previewValue(text));
  return {
    job_id: row.id,
    status: jobStatus(row.status),
    parameters: parse(row.parameters_preview),
    run_name: row.run_name,
    created_at: zenmlTimestamp(row.created_at),
    // The index keeps no start time: a job that waited in the queue shows its creation here.
    started_at: row.status === "pending" ? null : zenmlTimestamp(row.created_at),
    completed_at: row.finished_at === null ? null : zenmlTimestamp(row.finished_at),
    error: row.status === "cancelled" ? "Execution was cancelled" : row.error === null ? null : zenmlJobError(row.error),
    result: parse(row.result_preview),
    execution_time: row.duration_ms === null ? null : row.duration_ms / 1000,
    pipeline_name: row.pipeline,
    steps_executed: row.steps_executed,
    canceled_by: null,
    cancel_reason: row.cancel_reason,
  };
}

/**
 * A stored preview as a value: its JSON, or, for a preview cut to its size limit (ZenML's
 * `… [TRUNCATED - original size: N chars]`, no longer JSON), the text itself. No row can break a list.
 */
function previewValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
