/**
 * The pipeline model: steps, edges and settings, and the zod schema that validates a definition
 * before it is served. Pure module: no platform imports.
 */
import * as z from "zod";
import { capturePolicyInputSchema, RUNTIME_MODES } from "../capture/policy";
import type { JsonValue, Message, MessageValue } from "./message";
import { endpointSchema, functionTypeSchema } from "../remote/endpoint";

/** What a step may see besides its input message. */
export interface StepContext {
  runId: string;
  pipeline: string;
  step: string;
  /** The request headers the run was started with, without credentials (src/http/forwarded-headers.ts). */
  headers: Readonly<Record<string, string>>;
  /** Aborted when the run is cancelled or times out; long steps should pass it on. */
  signal: AbortSignal;
  /**
   * Streams partial output (a piece of text: a model's next tokens) to the run's watchers while the
   * step runs, as `step_delta` events. Inline steps of stored runs; elsewhere it does nothing.
   */
  emit(delta: string): void;
  /** The Worker's environment: its vars and secrets by name (a step that calls a service reads its URL and key here). */
  env: Readonly<Record<string, unknown>>;
}

/** `emit` where a step's partial output goes nowhere (memory-only runs, queued steps). */
export const ignoreDelta = (_delta: string): void => undefined;

/** One message a step emits. `value` is required; tags and keys default to none. */
export interface Emit {
  value: MessageValue;
  tags?: readonly string[];
  keys?: readonly string[];
}

/** A step returns zero (`null`, `[]`), one or many messages: filter, map and flat-map alike. */
export type StepReturn = Emit | readonly Emit[] | null | undefined;

export type StepFunction = (message: Message, context: StepContext) => StepReturn | Promise<StepReturn>;

/** Where finished runs keep their results (see durable-objects/run/result-store.ts). */
export const RESULT_STORES = ["sqlite", "kv", "r2"] as const;
export const RUN_HOSTS = ["object", "journal"] as const;
export type RunHostKind = (typeof RUN_HOSTS)[number];
export type ResultStoreKind = (typeof RESULT_STORES)[number];

const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
export const name = (what: string) => z.string().regex(NAME_PATTERN, `${what} must be lower-case letters, digits and '-', starting with a letter`);

export const edgeConditionSchema = z.strictObject({
  operator: z.enum(["any", "all", "none"]),
  tags: z.array(z.string().min(1)).min(1, "conditions.tags must list at least one tag"),
});
export type EdgeCondition = z.infer<typeof edgeConditionSchema>;

export const edgeSchema = z.strictObject({
  from: name("edge.from"),
  to: name("edge.to"),
  conditions: edgeConditionSchema.optional(),
});
export type EdgeDefinition = z.infer<typeof edgeSchema>;

/** Platform ceiling: the stage queue's `max_retries` (wrangler.toml) allows this many deliveries and one more. */
export const MAX_QUEUED_STEP_ATTEMPTS = 20;

/** How a failing step is tried again: exponential backoff between attempts, capped. */
export const retryPolicySchema = z.strictObject({
  /** Attempts in all, the first included; when the last fails the step goes to the dead-letter queue. */
  maxAttempts: z.number().int().min(1).max(MAX_QUEUED_STEP_ATTEMPTS).default(3),
  /** Delay before the second attempt. */
  backoffSeconds: z.number().min(0).max(3600).default(1),
  /** Each further delay is the previous one times this. */
  backoffMultiplier: z.number().min(1).max(10).default(2),
  /** No delay is longer than this (Queues allow up to 12 h). */
  maxBackoffSeconds: z.number().min(0).max(43_200).default(60),
});
export type RetryPolicy = z.output<typeof retryPolicySchema>;

export const inlineStepSchema = z.strictObject({
  name: name("step name"),
  kind: z.literal("inline"),
  run: z.custom<StepFunction>((v) => typeof v === "function", "inline steps need a function in `run`"),
  /** Per-invocation limit; a step that takes longer fails the run. */
  timeoutSeconds: z.number().positive().max(3600).optional(),
  /** What is captured of this step's values; a request's `capture_override` still wins. */
  capture: capturePolicyInputSchema.optional(),
  /** Tries a failed invocation again after a backoff (a streaming step's new attempt streams anew); none by default: a failure fails the run. */
  retry: retryPolicySchema.optional(),
});

/** A step that runs in the stage queue's consumer, apart from the request path (see queues/). */
export const queuedStepSchema = z.strictObject({
  name: name("step name"),
  kind: z.literal("queued"),
  run: z.custom<StepFunction>((v) => typeof v === "function", "queued steps need a function in `run`"),
  /** Per-attempt limit; an attempt that takes longer counts as failed and is retried. */
  timeoutSeconds: z.number().positive().max(900).optional(),
  capture: capturePolicyInputSchema.optional(),
  retry: retryPolicySchema.default({ maxAttempts: 3, backoffSeconds: 1, backoffMultiplier: 2, maxBackoffSeconds: 60 }),
});

/**
 * A step served by a remote function over StateFun's request-reply protocol (see src/remote/).
 * The invocation's address is `function` plus the message's first key (the run id without one).
 */
export const remoteStepSchema = z.strictObject({
  name: name("step name"),
  kind: z.literal("remote"),
  /** The function type, `namespace/name`; one of the pipeline's `endpoints` must serve it. */
  function: functionTypeSchema,
  /** The StateFun type name of the argument; by default one that fits the value (string, int, bool, else JSON). */
  argumentType: z
    .string()
    .regex(/^[^/\s]+\/\S+$/, "a StateFun type name is namespace/name, such as io.statefun.types/string")
    .optional(),
  /** How the function's egress values are read: JSON, UTF-8 text, bytes, or whichever fits (`auto`). */
  output: z.enum(["auto", "json", "string", "bytes"]).default("auto"),
  /**
   * Only other functions send to this step (StateFun messages): it does not receive the run's
   * input even when no edge leads to it.
   */
  messagesOnly: z.boolean().default(false),
  capture: capturePolicyInputSchema.optional(),
});

export const sinkStepSchema = z.strictObject({
  name: name("step name"),
  kind: z.literal("sink"),
});

export const stepSchema = z.discriminatedUnion("kind", [inlineStepSchema, queuedStepSchema, remoteStepSchema, sinkStepSchema]);
export type StepDefinition = z.output<typeof stepSchema>;
export type InlineStepDefinition = z.output<typeof inlineStepSchema>;
export type QueuedStepDefinition = z.output<typeof queuedStepSchema>;
export type RemoteStepDefinition = z.output<typeof remoteStepSchema>;

/**
 * The input of a pipeline that takes the request body as it comes, any bytes of any content type,
 * as Numaflow passes a body to its pipeline (a manifest's `input: bytes`). Steps get it as a
 * `Uint8Array`.
 */
export const BYTES_INPUT: z.ZodType<JsonValue> = z.custom<JsonValue>(() => true);

/** Whether the pipeline takes the raw request body (`BYTES_INPUT`) rather than JSON. */
export function takesBytes(definition: { input: unknown }): boolean {
  return definition.input === BYTES_INPUT;
}

export const pipelineSchema = z.strictObject({
  name: name("pipeline name"),
  version: z.string().min(1).default("1"),
  description: z.string().default(""),
  /** Validates the request body (parsed as JSON) before any run starts; `BYTES_INPUT` takes it raw. */
  input: z.custom<z.ZodType<JsonValue>>((v) => v instanceof z.ZodType, "input must be a zod schema"),
  steps: z.array(stepSchema).min(1),
  edges: z.array(edgeSchema),
  /** StateFun HTTP function endpoints that serve the pipeline's remote steps. */
  endpoints: z.array(endpointSchema).default([]),
  /** How long a sync call waits before answering 408; the run goes on. */
  requestTimeoutSeconds: z.number().int().min(1).max(3600).optional(),
  /** How long a run may take in all before it fails with `run_timeout`. */
  runTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
  /** What each run records (ZenML's `serving_capture`); unset fields fall back to EDGESERVE_CAPTURE_*. */
  capture: capturePolicyInputSchema.optional(),
  /** Limits on this pipeline's runs; unset fields fall back to EDGESERVE_MAX_CONCURRENCY / _QUEUE_SIZE. */
  admission: z
    .strictObject({
      maxConcurrency: z.number().int().min(1).optional(),
      maxQueueSize: z.number().int().min(0).optional(),
    })
    .optional(),
  /** BATCH, REALTIME or OFF indexing, or memory-only: run in the Worker with no Durable Object. */
  runtime: z.enum(RUNTIME_MODES).optional(),
  /**
   * Where runs live: `object`, a Durable Object per run (the default); `journal`, rows in a fixed
   * set of long-lived shard objects (README, "Run hosts").
   */
  runHost: z.enum(RUN_HOSTS).default("object"),
  /** The journal host's shard count; a run's shard is a hash of its id, so never change it while runs are kept. */
  shards: z.number().int().min(1).max(1024).optional(),
  /** Where finished runs keep their results: the Run object's SQLite (default), Workers KV, or R2. */
  resultStore: z.enum(RESULT_STORES).default("sqlite"),
  /** How long a finished run's results stay fetchable and its id reserved; EDGESERVE_RETENTION_SECONDS when unset. */
  retentionSeconds: z
    .number()
    .int()
    .min(1)
    .max(30 * 86_400)
    .optional(),
});

export type PipelineDefinition = z.input<typeof pipelineSchema>;
export type ParsedPipelineDefinition = z.output<typeof pipelineSchema>;

/** Identity helper that types a pipeline definition where it is written. */
export function definePipeline(definition: PipelineDefinition): PipelineDefinition {
  return definition;
}
