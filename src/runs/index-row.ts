/**
 * A run's row in the D1 run index (src/engine/run-index.ts) as it travels: from a Run object or a
 * journal shard through the run-events queue, or in a sync run's answer to the caller's isolate,
 * which sends the rows of many runs together (src/engine/run-index-batch.ts).
 */
import * as z from "zod";

/** Index previews are cut shorter than the capture policy's: D1 limits rows and statements (reference §5). */
export const INDEX_PREVIEW_MAX_BYTES = 16_384;

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
