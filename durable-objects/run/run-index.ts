/**
 * Keeps the run's row in the D1 run index (migrations/) in step with the run, by sending it to the
 * index queue (src/queues/run-index-consumer.ts batches rows into D1). The Run object is the source
 * of truth; the index is a copy for queries across runs. Sends go out without holding up the run;
 * one that keeps failing is retried by the alarm.
 */
import { findPipeline } from "../../src/catalog";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import type { RunIndexRowMessage } from "../../src/runs/run-index-row";
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

/** Sends the run's row to the index queue; false when the queue would not take it. */
export async function writeRunIndex(queue: Queue, row: RunRow, previews: IndexPreviews): Promise<boolean> {
  const message: RunIndexRowMessage = {
    pipeline: row.pipeline,
    id: row.id,
    surface: row.surface,
    status: row.status,
    run_name: row.runName,
    created_at: row.createdAt,
    finished_at: row.finishedAt,
    duration_ms: row.finishedAt === null ? null : row.finishedAt - row.createdAt,
    steps_executed: countStepsExecuted(findPipeline(row.pipeline), row.steps),
    error: row.error?.code === "run_cancelled" ? null : (row.error?.message ?? null),
    cancel_reason: row.error?.code === "run_cancelled" ? row.error.message : null,
    expires_at: row.expiresAt,
    parameters_preview: previews.parameters,
    result_preview: previews.result,
    version: row.nextSeq,
  };
  for (let attempt = 1; attempt <= INDEX_WRITE_ATTEMPTS; attempt++) {
    try {
      await queue.send(message, { contentType: "json" });
      return true;
    } catch (error) {
      if (attempt === INDEX_WRITE_ATTEMPTS) {
        console.error(`edgeserve: sending the run index row of ${row.pipeline}/${row.id} failed: ${String(error)}`);
      }
    }
  }
  return false;
}

export async function deleteRunIndex(db: D1Database, pipeline: string, id: string): Promise<void> {
  await db.prepare("DELETE FROM runs WHERE pipeline = ? AND id = ?").bind(pipeline, id).run();
}
