/**
 * The D1 run index (migrations/): one row per run, for queries across runs (ZenML's `/jobs`,
 * `/metrics`, `/health`, finding a run by id alone). The only module that touches it.
 *
 * Writes travel through the run-events queue, batched into D1 by its consumer
 * (src/queues/run-events-consumer.ts): one D1 write per run would cap throughput. A Run object (or
 * journal shard) sends its run's row, with the run's admission slot when the run ends; a sync run
 * that ended while its caller waited hands its final row to the caller's isolate instead, which
 * sends many runs' rows in one message (run-index-batch.ts). The Run object stays the source of
 * truth; the index is a copy.
 */
import * as z from "zod";
import { slotReleaseSchema } from "../admission/protocol";
import { runIndexRowSchema, type RunIndexRowMessage } from "../runs/index-row";
import type { RunStatus, Surface } from "../runs/protocol";
import { TIMEOUT_MESSAGE_START } from "../runs/run-timeout";

export const RUN_EVENTS_QUEUE = "edgeserve-run-index";
export const RUN_EVENTS_DLQ = "edgeserve-run-index-dlq";

/** A run's row in the index, by its whole key. */
export const runIndexKeySchema = z.strictObject({ pipeline: z.string().min(1), id: z.string().min(1), created_at: z.number().int() });
export type RunIndexKey = z.infer<typeof runIndexKeySchema>;

/**
 * What a Run object sends when its state changes: its index row, its slot release, or both; or,
 * when its retention has ended, the row to delete (`forget`).
 */
export const runEventsMessageSchema = z
  .strictObject({ row: runIndexRowSchema.optional(), release: slotReleaseSchema.optional(), forget: runIndexKeySchema.optional() })
  .refine((m) => m.row !== undefined || m.release !== undefined || m.forget !== undefined, "a message carries a row, a release or a row to forget");
export type RunEventsMessage = z.infer<typeof runEventsMessageSchema>;

/**
 * At most this many rows in one isolate's message: with the consumer's batches of up to 100
 * messages, one D1 batch holds at most 2,000 upserts, and a row D1 refuses has few neighbours to
 * be retried with.
 */
export const INDEX_ROWS_PER_MESSAGE = 20;

/**
 * The final rows of sync runs that ended while their callers waited, sent together by the callers'
 * isolate (src/engine/run-index-batch.ts): one message for many runs.
 */
export const runIndexRowsMessageSchema = z.strictObject({ rows: z.array(runIndexRowSchema).min(1).max(INDEX_ROWS_PER_MESSAGE) });
export type RunIndexRowsMessage = z.infer<typeof runIndexRowsMessageSchema>;

/** What the run-events queue carries: one run's message, or an isolate's rows of many runs. */
export const runEventsQueueBodySchema = z.union([runEventsMessageSchema, runIndexRowsMessageSchema]);
export type RunEventsQueueBody = z.infer<typeof runEventsQueueBodySchema>;

/** Sends a message to the run-events queue; false when the queue would not take it. */
export async function sendRunEvents(queue: Queue, message: RunEventsQueueBody, attempts = 3): Promise<boolean> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      await queue.send(message, { contentType: "json" });
      return true;
    } catch (error) {
      if (attempt === attempts) console.error(`edgeserve: sending a run-events message failed: ${String(error)}`);
    }
  }
  return false;
}

/**
 * The upsert that keeps the newest version of a run's row, whatever order rows arrive in. Its
 * conflict target is the table's primary key (pipeline, created_at, id) (migrations/0003): a run's
 * created_at never changes, so every row of a run meets the same key; an id reused after its run
 * expired has a new created_at, and the old run's row was deleted at its expiry.
 */
export function upsertRunIndexRow(db: D1Database, row: RunIndexRowMessage): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO runs (pipeline, id, surface, status, run_name, created_at, finished_at, duration_ms, steps_executed,
         error, cancel_reason, expires_at, parameters_preview, result_preview, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (pipeline, created_at, id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
         duration_ms = excluded.duration_ms, steps_executed = excluded.steps_executed, error = excluded.error,
         cancel_reason = excluded.cancel_reason, expires_at = excluded.expires_at,
         parameters_preview = excluded.parameters_preview, result_preview = excluded.result_preview,
         version = excluded.version
       WHERE excluded.version >= runs.version`,
    )
    .bind(
      row.pipeline,
      row.id,
      row.surface,
      row.status,
      row.run_name,
      row.created_at,
      row.finished_at,
      row.duration_ms,
      row.steps_executed,
      row.error,
      row.cancel_reason,
      row.expires_at,
      row.parameters_preview,
      row.result_preview,
      row.version,
    );
}

/**
 * Writes index rows in one D1 batch (one implicit transaction) and returns the rows D1 wrote, as
 * its `meta.rows_written` counts them: 1 for a new run's row or a newer version of it, 0 for a
 * version older than the one stored (migrations/0003). Throws when the batch fails (nothing is
 * written then).
 */
export async function writeRunIndexRows(db: D1Database, rows: readonly RunIndexRowMessage[]): Promise<number> {
  if (rows.length === 0) return 0;
  const results = await db.batch(rows.map((row) => upsertRunIndexRow(db, row)));
  return results.reduce((written, result) => written + (result.meta?.rows_written ?? 0), 0);
}

/** The delete of the row of a run whose retention ended, by its whole key (a point delete). */
export function forgetRunIndexRow(db: D1Database, key: RunIndexKey): D1PreparedStatement {
  return db.prepare("DELETE FROM runs WHERE pipeline = ? AND created_at = ? AND id = ?").bind(key.pipeline, key.created_at, key.id);
}

/**
 * Deletes a run's row. With its `createdAt` the row is found by the whole primary key (a point
 * delete); without it, by pipeline and id, which walks the pipeline's rows (and deletes every row
 * of that id, should an expired run's row have been left behind).
 */
export async function deleteRunIndex(db: D1Database, pipeline: string, id: string, createdAt?: number): Promise<void> {
  const statement =
    createdAt === undefined
      ? db.prepare("DELETE FROM runs WHERE pipeline = ? AND id = ?").bind(pipeline, id)
      : db.prepare("DELETE FROM runs WHERE pipeline = ? AND created_at = ? AND id = ?").bind(pipeline, createdAt, id);
  await statement.run();
}

/**
 * The pipeline of a run known only by its id (the newest, if several pipelines used the id). No
 * index leads with id, so this scans the table; it did before migrations/0003 too (no index led with
 * id then either), and a secondary index for it would cost a row written per run.
 */
export async function pipelineOfRun(db: D1Database, id: string): Promise<string | undefined> {
  const row = await db.prepare(RUN_INDEX_READS.pipelineOfRun).bind(id).first<{ pipeline: string }>();
  return row?.pipeline;
}

/**
 * The newest pipeline other than `pipeline` with a run of this id. Like `pipelineOfRun`, a search by
 * id, which the primary key does not serve (the table keeps no other index, so that each write is
 * one row): asked on the 404 path only (src/engine/run-elsewhere.ts).
 */
export async function otherPipelineOfRun(db: D1Database, id: string, pipeline: string): Promise<string | undefined> {
  const row = await db.prepare(RUN_INDEX_READS.otherPipelineOfRun).bind(id, pipeline).first<{ pipeline: string }>();
  return row?.pipeline;
}

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

/** Histogram buckets (upper bounds in seconds) for run durations, Prometheus style. */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300] as const;

/**
 * The read queries, named so that tests can check their plans: each one of a pipeline is served by
 * the table's primary key (pipeline, created_at, id) alone (migrations/0003); listRuns walks it
 * backwards in its ORDER BY, without sorting.
 */
export const RUN_INDEX_READS = {
  listRuns: "SELECT * FROM runs WHERE pipeline = ? ORDER BY created_at DESC, id DESC LIMIT ?",
  listRunsWithStatus: "SELECT * FROM runs WHERE pipeline = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT ?",
  countRuns: `SELECT surface, status, COUNT(*) AS runs, COALESCE(SUM(duration_ms), 0) AS total_ms,
       SUM(CASE WHEN status = 'failed' AND error LIKE '${TIMEOUT_MESSAGE_START}%' THEN 1 ELSE 0 END) AS timeouts
       FROM runs WHERE pipeline = ? GROUP BY surface, status`,
  recentDurations: "SELECT duration_ms FROM runs WHERE pipeline = ? AND duration_ms IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT ?",
  durationHistograms: `SELECT surface, ${DURATION_BUCKETS_SECONDS.map(
    (bound, i) => `SUM(CASE WHEN duration_ms <= ${Math.round(bound * 1000)} THEN 1 ELSE 0 END) AS b${i}`,
  ).join(", ")}, COUNT(*) AS total, COALESCE(SUM(duration_ms), 0) AS total_ms
       FROM runs WHERE pipeline = ? AND duration_ms IS NOT NULL GROUP BY surface`,
  runsSince: "SELECT COUNT(*) AS runs, MAX(finished_at) AS last FROM runs WHERE pipeline = ? AND created_at >= ?",
  pipelineOfRun: "SELECT pipeline FROM runs WHERE id = ? ORDER BY created_at DESC LIMIT 1",
  otherPipelineOfRun: "SELECT pipeline FROM runs WHERE id = ? AND pipeline <> ? ORDER BY created_at DESC LIMIT 1",
} as const;

export async function listRuns(db: D1Database, pipeline: string, options: { status?: RunStatus; limit: number }): Promise<RunIndexRow[]> {
  const statement = options.status
    ? db.prepare(RUN_INDEX_READS.listRunsWithStatus).bind(pipeline, options.status, options.limit)
    : db.prepare(RUN_INDEX_READS.listRuns).bind(pipeline, options.limit);
  return (await statement.all<RunIndexRow>()).results;
}

export interface RunCounts {
  surface: Surface;
  status: RunStatus;
  runs: number;
  total_ms: number;
  /** Failed runs that outlived their deadline. */
  timeouts: number;
}

/** Runs per surface and status, with their summed durations (finished runs only have one). */
export async function countRuns(db: D1Database, pipeline: string): Promise<RunCounts[]> {
  const { results } = await db.prepare(RUN_INDEX_READS.countRuns).bind(pipeline).all<RunCounts & Record<string, unknown>>();
  return results;
}

/** The durations (ms) of the pipeline's latest `limit` finished runs, newest first. */
export async function recentDurations(db: D1Database, pipeline: string, limit: number): Promise<number[]> {
  const { results } = await db.prepare(RUN_INDEX_READS.recentDurations).bind(pipeline, limit).all<{ duration_ms: number }>();
  return results.map((row) => row.duration_ms);
}

export interface DurationHistogram {
  surface: Surface;
  /** Cumulative counts for each bucket of `DURATION_BUCKETS_SECONDS`, then +Inf. */
  cumulative: number[];
  sumSeconds: number;
  count: number;
}

export async function durationHistograms(db: D1Database, pipeline: string): Promise<DurationHistogram[]> {
  const { results } = await db.prepare(RUN_INDEX_READS.durationHistograms).bind(pipeline).all<Record<string, number | string>>();
  return results.map((row) => ({
    surface: row.surface as Surface,
    cumulative: [...DURATION_BUCKETS_SECONDS.map((_, i) => Number(row[`b${i}`] ?? 0)), Number(row.total ?? 0)],
    sumSeconds: Number(row.total_ms ?? 0) / 1000,
    count: Number(row.total ?? 0),
  }));
}

export async function runsSince(db: D1Database, pipeline: string, since: number): Promise<{ runs: number; last: number | null }> {
  const row = await db.prepare(RUN_INDEX_READS.runsSince).bind(pipeline, since).first<{ runs: number; last: number | null }>();
  return { runs: row?.runs ?? 0, last: row?.last ?? null };
}
