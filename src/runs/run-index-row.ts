/**
 * One run's row in the D1 run index, as a Run object sends it through the index queue. Validated
 * again by the consumer: a queue message is input from outside the Worker's own call.
 */
import { z } from "zod";

export const RUN_INDEX_QUEUE = "edgeserve-run-index";
export const RUN_INDEX_DLQ = "edgeserve-run-index-dlq";

export const runIndexRowSchema = z.strictObject({
  pipeline: z.string().min(1),
  id: z.string().min(1),
  surface: z.enum(["numaflow", "zenml", "native"]),
  status: z.enum(["pending", "running", "completed", "failed", "cancelled"]),
  run_name: z.string().nullable(),
  created_at: z.number().int(),
  finished_at: z.number().int().nullable(),
  duration_ms: z.number().int().nullable(),
  steps_executed: z.number().int().min(0),
  error: z.string().nullable(),
  cancel_reason: z.string().nullable(),
  expires_at: z.number().int().nullable(),
  parameters_preview: z.string().nullable(),
  result_preview: z.string().nullable(),
  /** The run's event sequence when the row was made: a lower version never replaces a higher one. */
  version: z.number().int().min(0),
});
export type RunIndexRowMessage = z.infer<typeof runIndexRowSchema>;

/** The upsert that keeps the newest version of a run's row, whatever order rows arrive in. */
export function upsertRunIndexRow(db: D1Database, row: RunIndexRowMessage): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO runs (pipeline, id, surface, status, run_name, created_at, finished_at, duration_ms, steps_executed,
         error, cancel_reason, expires_at, parameters_preview, result_preview, version)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (pipeline, id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
         duration_ms = excluded.duration_ms, steps_executed = excluded.steps_executed, error = excluded.error,
         cancel_reason = excluded.cancel_reason, expires_at = excluded.expires_at,
         parameters_preview = excluded.parameters_preview, result_preview = excluded.result_preview,
         version = excluded.version
       WHERE excluded.version >= runs.version`,
    )
    .bind(
      row.pipeline, row.id, row.surface, row.status, row.run_name, row.created_at, row.finished_at, row.duration_ms,
      row.steps_executed, row.error, row.cancel_reason, row.expires_at, row.parameters_preview, row.result_preview, row.version,
    );
}
