/**
 * Moving stages over the queue: a stage's input rides in the message when it fits, or in R2 (the
 * PAYLOADS bucket) with a pointer in the message when it does not. The Run object plans each send
 * inside its burst (so it knows, before anything leaves, which runs own R2 objects), writes the R2
 * object before sending the pointer, and deletes the run's objects when its retention ends.
 */
import { storedMessageSchema, type StoredMessage } from "../pipeline/message";
import { SEND_BATCH_MAX_BYTES, SEND_BATCH_MAX_MESSAGES, STAGE_INLINE_MAX_BYTES, stageLabel, type StageMessage } from "./stage-message";

const encoder = new TextEncoder();

/** A stage ready to send: its message and, when its input is offloaded, the R2 object to write first. */
export interface StagePlan {
  message: StageMessage;
  bytes: number;
  r2?: { key: string; body: string };
}

/** Every payload object of one run starts with this (run ids may hold '/', so they are encoded). */
export function runPayloadPrefix(pipeline: string, runId: string): string {
  return `stages/${pipeline}/${encodeURIComponent(runId)}/`;
}

/** Decides how a stage travels. Synchronous, so the Run object can record the decision in its burst. */
export function planStage(stage: Omit<StageMessage, "payload">, input: StoredMessage): StagePlan {
  const inline: StageMessage = { ...stage, payload: { inline: input } };
  const bytes = encoder.encode(JSON.stringify(inline)).byteLength;
  if (bytes <= STAGE_INLINE_MAX_BYTES) return { message: inline, bytes };
  const key = `${runPayloadPrefix(stage.pipeline, stage.runId)}${encodeURIComponent(stage.key)}`;
  const pointer: StageMessage = { ...stage, payload: { r2: key } };
  return { message: pointer, bytes: encoder.encode(JSON.stringify(pointer)).byteLength, r2: { key, body: JSON.stringify(input) } };
}

/** Writes the offloaded inputs, then sends the messages in as few `sendBatch` calls as the limits allow. */
export async function sendStages(queue: Queue, bucket: R2Bucket, plans: readonly StagePlan[]): Promise<void> {
  await Promise.all(plans.flatMap((plan) => (plan.r2 ? [bucket.put(plan.r2.key, plan.r2.body, { httpMetadata: { contentType: "application/json" } })] : [])));
  let batch: StagePlan[] = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await queue.sendBatch(batch.map((plan) => ({ body: plan.message, contentType: "json" as const })));
    batch = [];
    batchBytes = 0;
  };
  for (const plan of plans) {
    if (batch.length === SEND_BATCH_MAX_MESSAGES || batchBytes + plan.bytes > SEND_BATCH_MAX_BYTES) await flush();
    batch.push(plan);
    batchBytes += plan.bytes;
  }
  await flush();
}

export class MissingPayloadError extends Error {
  override readonly name = "MissingPayloadError";
}

/** The stage's input, read from R2 when the message holds a pointer. */
export async function unpackStage(bucket: R2Bucket, stage: StageMessage): Promise<StoredMessage> {
  if ("inline" in stage.payload) return stage.payload.inline;
  const object = await bucket.get(stage.payload.r2);
  if (!object) throw new MissingPayloadError(`the input of stage ${stageLabel(stage)} is missing from R2 (${stage.payload.r2})`);
  const parsed = storedMessageSchema.safeParse(await object.json());
  if (!parsed.success) throw new MissingPayloadError(`the input of stage ${stageLabel(stage)} in R2 is not a message`);
  return parsed.data;
}

/** Deletes every payload object of a run (when its retention ends); returns how many there were. */
export async function deleteRunPayloads(bucket: R2Bucket, pipeline: string, runId: string): Promise<number> {
  const prefix = runPayloadPrefix(pipeline, runId);
  let deleted = 0;
  let cursor: string | undefined;
  do {
    const listing = await bucket.list({ prefix, ...(cursor ? { cursor } : {}) });
    const keys = listing.objects.map((o) => o.key);
    if (keys.length > 0) await bucket.delete(keys);
    deleted += keys.length;
    cursor = listing.truncated ? listing.cursor : undefined;
  } while (cursor);
  return deleted;
}
