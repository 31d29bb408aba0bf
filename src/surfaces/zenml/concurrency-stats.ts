/**
 * `GET /concurrency/stats` (reference/zenml-serving.md §1, §4): ZenML's execution, jobs and
 * streams figures, from what edgeserve keeps. Run counts and durations come from the D1 run index
 * (every surface's runs, as `/metrics` counts them), the queue and its refusals from the
 * pipeline's admission shards. What edgeserve does not count across Run objects is null (README).
 */
import type { Context } from "hono";
import type { AppEnv } from "../../app-env";
import { admissionLimits } from "../../engine/admission";
import { countRuns, recentDurations, type RunCounts } from "../../engine/run-index";
import { isMemoryOnly } from "../../http/memory-only";
import type { RunStatus } from "../../runs/protocol";
import { JOB_STATUSES, jobStatus, type JobStatus } from "./jobs";

/** ZenML's execution-time percentiles are over the latest 1000 runs. */
const DURATION_SAMPLES = 1000;

export async function concurrencyStats(c: Context<AppEnv>): Promise<Response> {
  const pipeline = c.get("pipeline");
  const [counts, durations, queue] = await Promise.all([
    countRuns(c.env.DB, pipeline.name),
    recentDurations(c.env.DB, pipeline.name, DURATION_SAMPLES),
    c.get("engine").admission.stats(pipeline),
  ]);
  const runs = (status: RunStatus) => sum(counts.filter((row) => row.status === status));
  const statusCounts = Object.fromEntries(JOB_STATUSES.map((status) => [status, 0])) as Record<JobStatus, number>;
  for (const row of counts) statusCounts[jobStatus(row.status)] += row.runs;
  const limits = admissionLimits(pipeline, c.get("settings"));
  const totalJobs = sum(counts);
  return c.json({
    execution: {
      active_executions: runs("running"),
      total_executions: totalJobs,
      successful_executions: runs("completed"),
      failed_executions: runs("failed"),
      timeout_executions: counts.reduce((total, row) => total + row.timeouts, 0),
      canceled_executions: runs("cancelled"),
      queue_length: queue.waiting,
      queue_full_rejections: queue.refusals,
      max_concurrency: limits.maxConcurrency,
      max_queue_size: limits.maxQueueSize,
      ...durationFigures(durations),
      executor_type: isMemoryOnly(pipeline) ? "memory-only" : `${pipeline.definition.runHost ?? "object"}-host`,
    },
    jobs: { total_jobs: totalJobs, max_jobs: null, status_counts: statusCounts },
    // Every stored run's events can be streamed (a finished run's replay too); the live ones are
    // those still going on. Subscribers are counted by each Run object alone, and there is no
    // buffer: a stream replays the whole event log.
    streams: { total_streams: totalJobs, active_streams: runs("pending") + runs("running"), total_subscribers: null, default_buffer_size: null },
  });
}

function sum(rows: RunCounts[]): number {
  return rows.reduce((total, row) => total + row.runs, 0);
}

/** p50, p95, p99 (nearest rank) and mean of the durations, in seconds, as ZenML reports them. */
function durationFigures(durationsMs: number[]) {
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! / 1000);
  const mean = sorted.length === 0 ? 0 : sorted.reduce((total, ms) => total + ms, 0) / sorted.length / 1000;
  return {
    execution_time_p50: at(0.5),
    execution_time_p95: at(0.95),
    execution_time_p99: at(0.99),
    execution_time_avg: mean,
    execution_time_samples: sorted.length,
  };
}
