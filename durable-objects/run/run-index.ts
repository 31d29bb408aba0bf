/**
 * Keeps the run's row in the D1 run index (migrations/0001_run_index.sql) in step with the run.
 * The Run object is the source of truth; the index is a copy for queries across runs. Writes go
 * out without holding up the run; a write that keeps failing is retried by the alarm.
 */
import { findPipeline } from "../../src/catalog";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import type { RunRow } from "./run-record";

/** Attempts per index write before the alarm is asked to try again later. */
const INDEX_WRITE_ATTEMPTS = 3;
export const INDEX_RETRY_DELAY_MS = 30_000;

/** Index previews are cut shorter than the policy's: D1 limits rows and statements (reference §5). */
export const INDEX_PREVIEW_MAX_BYTES = 16_384;

export interface IndexPreviews {
  parameters: string | null;
  result: string | null;
}

export async function writeRunIndex(db: D1Database, row: RunRow, previews: IndexPreviews): Promise<boolean> {
  const stepsExecuted = countStepsExecuted(findPipeline(row.pipeline), row.steps);
  const statement = db
    .prepare(
      `INSERT INTO runs (pipeline, id, surface, status, run_name, created_at, finished_at, duration_ms,
         steps_executed, error, cancel_reason, expires_at, parameters_preview, result_preview)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (pipeline, id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
         duration_ms = excluded.duration_ms, steps_executed = excluded.steps_executed, error = excluded.error,
         cancel_reason = excluded.cancel_reason, expires_at = excluded.expires_at,
         result_preview = excluded.result_preview`,
    )
    .bind(
      row.pipeline,
      row.id,
      row.surface,
      row.status,
      row.runName,
      row.createdAt,
      row.finishedAt,
      row.finishedAt === null ? null : row.finishedAt - row.createdAt,
      stepsExecuted,
      row.error?.code === "run_cancelled" ? null : (row.error?.message ?? null),
      row.error?.code === "run_cancelled" ? row.error.message : null,
      row.expiresAt,
      previews.parameters,
      previews.result,
    );
  for (let attempt = 1; attempt <= INDEX_WRITE_ATTEMPTS; attempt++) {
    try {
      await statement.run();
      return true;
    } catch (error) {
      if (attempt === INDEX_WRITE_ATTEMPTS) {
        console.error(`edgeserve: run index write for ${row.pipeline}/${row.id} failed: ${String(error)}`);
      }
    }
  }
  return false;
}

export async function deleteRunIndex(db: D1Database, pipeline: string, id: string): Promise<void> {
  await db.prepare("DELETE FROM runs WHERE pipeline = ? AND id = ?").bind(pipeline, id).run();
}
