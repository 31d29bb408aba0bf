/**
 * The native API's wire shapes, as zod schemas: they validate the routes and generate the OpenAPI
 * document (`/openapi.json`), and the typed client takes its types from them. Described once.
 * Names in the document's components are given in routes.ts; `.meta()` carries descriptions and
 * examples into the document.
 */
// A namespace import, so that the bundler keeps only the parts of zod that are used (no locales).
import * as z from "zod";

export const errorSchema = z.object({
  code: z.string().meta({ example: "run_not_found" }),
  message: z.string(),
  details: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional(),
});

export const stepSummarySchema = z.object({
  name: z.string(),
  kind: z.enum(["inline", "queued", "remote", "sink"]),
  function: z.string().optional().meta({ description: "A remote step's StateFun function type" }),
});

export const pipelineSummarySchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  default: z.boolean().meta({ description: "Served at the root of the Numaflow and ZenML surfaces" }),
  runtime: z.string(),
  result_store: z.enum(["sqlite", "kv", "r2"]),
  run_host: z.enum(["object", "journal"]).meta({ description: "Where runs live: a Durable Object each, or journal shards" }),
  shards: z.number().int().optional().meta({ description: "The journal host's shard count" }),
  retention_seconds: z.number().int(),
  steps: z.array(stepSummarySchema),
});

/** What a pipeline's detail adds to its summary (the document shows it as `allOf` of the two). */
export const pipelineDetailFieldsSchema = z.object({
  edges: z.array(
    z.object({
      from: z.string(),
      to: z.string(),
      conditions: z.object({ operator: z.enum(["any", "all", "none"]), tags: z.array(z.string()) }).optional(),
    }),
  ),
  input_schema: z.record(z.string(), z.unknown()).meta({ description: "JSON Schema of the run input" }),
  request_timeout_seconds: z.number().int(),
  run_timeout_seconds: z.number().int(),
});

export const pipelineDetailSchema = pipelineSummarySchema.extend(pipelineDetailFieldsSchema.shape);

const stepStateSchema = z.object({
  status: z.enum(["pending", "queued", "running", "completed", "failed", "stopped"]),
  started: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  retried: z.number().int().optional(),
  heldBack: z.number().int().optional(),
  firstStartedAt: z.number().optional(),
  lastFinishedAt: z.number().optional(),
});

export const runRecordSchema = z.object({
  id: z.string(),
  pipeline: z.string(),
  status: z.enum(["pending", "running", "completed", "failed", "cancelled"]),
  surface: z.enum(["numaflow", "zenml", "native"]),
  created_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  duration_ms: z.number().nullable(),
  error: z.object({ code: z.string(), message: z.string(), step: z.string().optional() }).nullable(),
  steps: z.record(z.string(), stepStateSchema),
  result_count: z.number().int(),
  rows_written: z.number().int(),
  capture: z.record(z.string(), z.unknown()),
  results: z.array(z.unknown()).nullable().meta({ description: "The results (JSON-decoded), once the run has completed" }),
  url: z.string().meta({ description: "This record's URL" }),
});

export const runResultSchema = z.object({ id: z.string(), status: z.literal("completed"), results: z.array(z.unknown()) });

export const pipelineParamSchema = z.object({
  name: z.string().meta({ example: "word-stats" }),
});

export const runParamSchema = z.object({
  id: z.string().min(1).meta({ example: "word-stats~8c1f…(64 hex)" }),
});

/** A run addressed with its pipeline: ids of any surface, found at once (no run index read). */
export const pipelineRunParamSchema = z.object({
  name: z.string().meta({ example: "word-stats" }),
  id: z.string().min(1).meta({ description: "The run id as its caller knows it: a native run id, a Numaflow `X-Numaflow-Id` or a ZenML job id" }),
});

export const cancelQuerySchema = z.object({
  reason: z.string().optional().meta({ description: "Why the run is cancelled (kept with the run, at most 1,000 characters)" }),
});

export const eventsHeadersSchema = z.object({
  "last-event-id": z.string().optional().meta({
    description: "The id of the last event seen: the stream resumes after it (sent by SSE clients when they reconnect)",
  }),
});

export const streamTicketSchema = z.object({
  ticket: z.string().meta({ description: "Opaque; send it as `?ticket=` on this run's stream routes instead of an Authorization header" }),
  expires_at: z.string().meta({ description: "RFC 3339; at least the run's timeout plus 5 minutes away, at most 24 hours" }),
});

export const startRunHeadersSchema = z.object({
  prefer: z.string().optional().meta({ description: "`respond-async`: answer 202 at once with the run's URL" }),
  "idempotency-key": z.string().min(1).max(256).optional().meta({
    description:
      "A retried create with the same key and body returns the same run instead of starting another; the same key with a different body is 422 `idempotency_key_reused`",
  }),
});

export type PipelineSummary = z.infer<typeof pipelineSummarySchema>;
export type PipelineDetail = z.infer<typeof pipelineDetailSchema>;
export type RunRecord = z.infer<typeof runRecordSchema>;
export type RunResult = z.infer<typeof runResultSchema>;
export type ApiErrorBody = z.infer<typeof errorSchema>;
export type StreamTicket = z.infer<typeof streamTicketSchema>;
