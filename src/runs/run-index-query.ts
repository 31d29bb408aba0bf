/**
 * Reads of the D1 run index (migrations/0001_run_index.sql) for queries across runs: listing
 * jobs and computing metrics. The Run objects write it; the Worker only reads.
 */
import type { RunStatus, Surface } from "./protocol";

export interface RunIndexRow extends Record<string, unknown> {
  pipeline: string;
  id: string;
  surface: Surface;
  status: RunStatus;
  run_name: string | null;
  created_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  steps_executed: number;
  error: string | null;
  cancel_reason: string | null;
  parameters_preview: string | null;
  result_preview: string | null;
}

export async function listRuns(
  db: D1Database,
  pipeline: string,
  options: { status?: RunStatus; limit: number },
): Promise<RunIndexRow[]> {
  const statement = options.status
    ? db
        .prepare("SELECT * FROM runs WHERE pipeline = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT ?")
        .bind(pipeline, options.status, options.limit)
    : db.prepare("SELECT * FROM runs WHERE pipeline = ? ORDER BY created_at DESC, id DESC LIMIT ?").bind(pipeline, options.limit);
  return (await statement.all<RunIndexRow>()).results;
}

export interface RunCounts {
  surface: Surface;
  status: RunStatus;
  runs: number;
  total_ms: number;
}

/** Runs per surface and status, with their summed durations (finished runs only have one). */
export async function countRuns(db: D1Database, pipeline: string): Promise<RunCounts[]> {
  const { results } = await db
    .prepare(
      `SELECT surface, status, COUNT(*) AS runs, COALESCE(SUM(duration_ms), 0) AS total_ms
       FROM runs WHERE pipeline = ? GROUP BY surface, status`,
    )
    .bind(pipeline)
    .all<RunCounts & Record<string, unknown>>();
  return results;
}

/** Histogram buckets (upper bounds in seconds) for run durations, Prometheus style. */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

export interface DurationHistogram {
  surface: Surface;
  /** Cumulative counts for each bucket of `DURATION_BUCKETS_SECONDS`, then +Inf. */
  cumulative: number[];
  sumSeconds: number;
  count: number;
}

export async function durationHistograms(db: D1Database, pipeline: string): Promise<DurationHistogram[]> {
  const columns = DURATION_BUCKETS_SECONDS.map(
    (bound, i) => `SUM(CASE WHEN duration_ms <= ${Math.round(bound * 1000)} THEN 1 ELSE 0 END) AS b${i}`,
  ).join(", ");
  const { results } = await db
    .prepare(
      `SELECT surface, ${columns}, COUNT(*) AS total, COALESCE(SUM(duration_ms), 0) AS total_ms
       FROM runs WHERE pipeline = ? AND duration_ms IS NOT NULL GROUP BY surface`,
    )
    .bind(pipeline)
    .all<Record<string, number | string>>();
  return results.map((row) => ({
    surface: row.surface as Surface,
    cumulative: [...DURATION_BUCKETS_SECONDS.map((_, i) => Number(row[`b${i}`] ?? 0)), Number(row.total ?? 0)],
    sumSeconds: Number(row.total_ms ?? 0) / 1000,
    count: Number(row.total ?? 0),
  }));
}

export async function runsSince(db: D1Database, pipeline: string, since: number): Promise<{ runs: number; last: number | null }> {
  const row = await db
    .prepare("SELECT COUNT(*) AS runs, MAX(finished_at) AS last FROM runs WHERE pipeline = ? AND created_at >= ?")
    .bind(pipeline, since)
    .first<{ runs: number; last: number | null }>();
  return { runs: row?.runs ?? 0, last: row?.last ?? null };
}
