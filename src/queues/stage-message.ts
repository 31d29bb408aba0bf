/**
 * What travels on the stage queue: a `StageMessage` asks the consumer to run one queued step on one
 * input message; a `StageFailure` tells the dead-letter consumer that a step used up its retries.
 * Both are validated where they are received, since a queue message is input from outside the call
 * that sent it.
 */
import * as z from "zod";
import { storedMessageSchema } from "../pipeline/message";

export const STAGE_QUEUE = "edgeserve-stages";
export const STAGE_DLQ = "edgeserve-stages-dlq";

/** Queues cap a message at 128 KB, where 1 KB is 1,000 B and ~100 B of metadata count (platform §3). */
export const QUEUE_MESSAGE_MAX_BYTES = 128_000;
/** A stage whose JSON is larger than this carries a pointer to R2 instead of its payload. */
export const STAGE_INLINE_MAX_BYTES = QUEUE_MESSAGE_MAX_BYTES - 8_000;
/** `sendBatch` takes at most 100 messages and 256 KB (platform §3). */
export const SEND_BATCH_MAX_MESSAGES = 100;
export const SEND_BATCH_MAX_BYTES = 256_000;

/** The step's input: in the message, or in R2 under `r2` when it is too large for a queue message. */
export const stagePayloadSchema = z.union([z.strictObject({ inline: storedMessageSchema }), z.strictObject({ r2: z.string().min(1).max(1024) })]);
export type StagePayload = z.infer<typeof stagePayloadSchema>;

const stageAddress = {
  runId: z.string().min(1).max(256),
  pipeline: z.string().min(1).max(64),
  step: z.string().min(1).max(64),
  /** The work item's idempotency key, `<run id>/<step>/<message seq>`. */
  key: z.string().min(1).max(512),
};

export const stageMessageSchema = z.strictObject({
  kind: z.literal("stage"),
  ...stageAddress,
  /** How many times the Run object has sent this work item (1 on the first send). */
  attempt: z.number().int().min(1),
  payload: stagePayloadSchema,
});
export type StageMessage = z.infer<typeof stageMessageSchema>;

export const stageFailureSchema = z.strictObject({
  kind: z.literal("stage_failure"),
  ...stageAddress,
  /** Attempts the step made, the last one included. */
  attempts: z.number().int().min(1),
  error: z.string().max(4096),
});
export type StageFailure = z.infer<typeof stageFailureSchema>;

/** What the dead-letter queue holds: failures the consumer sent, or stages the queue gave up on. */
export const deadLetterSchema = z.discriminatedUnion("kind", [stageMessageSchema, stageFailureSchema]);

/** The work key a stage belongs to, as a prefix of R2 keys and log lines. */
export function stageLabel(stage: { pipeline: string; key: string }): string {
  return `${stage.pipeline}/${stage.key}`;
}
