/**
 * The run-events queue's consumer: writes a batch of run-index rows to D1 in one batch (and logs
 * the rows D1 wrote for it), deletes the rows of expired runs in another, and hands each admission shard the slot releases of the batch in one
 * call. A message that is not valid is acknowledged and logged (retrying cannot fix it); a failed
 * D1 write or shard call retries only the messages it concerned, with a delay; after `max_retries`
 * they go to the dead-letter queue, whose consumer logs them (the Run objects still hold every
 * run; a shard's lease ends any slot).
 */
import type { ReleaseBatch } from "../admission/protocol";
import { deleteRunIndexRows, runEventsMessageSchema, writeRunIndexRows, type RunEventsMessage } from "../engine/run-index";

/** Delay before a message whose write failed is tried again. */
const RETRY_DELAY_SECONDS = 5;

interface Parsed {
  message: Message<unknown>;
  body: RunEventsMessage;
}

export async function consumeRunEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const parsed: Parsed[] = [];
  for (const message of batch.messages) {
    const result = runEventsMessageSchema.safeParse(message.body);
    if (result.success) {
      parsed.push({ message, body: result.data });
    } else {
      console.error(`edgeserve run events: dropped an invalid message ${message.id}: ${result.error.issues[0]?.message ?? "invalid"}`);
      message.ack();
    }
  }
  // A message is acknowledged once each of its parts is written; a failed part retries it (both
  // parts are idempotent: rows carry a version, shards ignore a release they have applied).
  const failed = new Set<Message<unknown>>();
  await Promise.all([writeRows(parsed, env, failed), forgetRows(parsed, env, failed), releaseSlots(parsed, env, failed)]);
  for (const { message } of parsed) {
    if (failed.has(message)) message.retry({ delaySeconds: RETRY_DELAY_SECONDS });
    else message.ack();
  }
}

async function writeRows(parsed: Parsed[], env: Env, failed: Set<Message<unknown>>): Promise<void> {
  const withRows = parsed.filter((p) => p.body.row !== undefined);
  if (withRows.length === 0) return;
  try {
    const written = await writeRunIndexRows(
      env.DB,
      withRows.map((p) => p.body.row!),
    );
    // What D1 bills: 1 row written per new or newer row (migrations/0003), 0 for an older version.
    console.log(`edgeserve run index: ${withRows.length} rows in a batch, D1 rows written: ${written}`);
  } catch (error) {
    console.error(`edgeserve run index: writing ${withRows.length} rows failed, will retry: ${String(error)}`);
    for (const p of withRows) failed.add(p.message);
  }
}

async function forgetRows(parsed: Parsed[], env: Env, failed: Set<Message<unknown>>): Promise<void> {
  const withKeys = parsed.filter((p) => p.body.forget !== undefined);
  if (withKeys.length === 0) return;
  try {
    await deleteRunIndexRows(
      env.DB,
      withKeys.map((p) => p.body.forget!),
    );
  } catch (error) {
    console.error(`edgeserve run index: deleting ${withKeys.length} expired rows failed, will retry: ${String(error)}`);
    for (const p of withKeys) failed.add(p.message);
  }
}

async function releaseSlots(parsed: Parsed[], env: Env, failed: Set<Message<unknown>>): Promise<void> {
  const byShard = new Map<string, { batch: ReleaseBatch; messages: Message<unknown>[] }>();
  for (const { message, body } of parsed) {
    const release = body.release;
    if (!release) continue;
    const entry = byShard.get(release.shard) ?? { batch: { released: [], withdraw: [] }, messages: [] };
    if (release.block !== undefined) entry.batch.released.push({ runId: release.runId, block: release.block });
    else entry.batch.withdraw.push(release.runId);
    entry.messages.push(message);
    byShard.set(release.shard, entry);
  }
  await Promise.all(
    [...byShard].map(async ([shard, { batch, messages }]) => {
      try {
        await env.ADMISSION.get(env.ADMISSION.idFromName(shard)).release(batch);
      } catch (error) {
        console.error(`edgeserve admission: releasing ${messages.length} slots to ${shard} failed, will retry: ${String(error)}`);
        for (const message of messages) failed.add(message);
      }
    }),
  );
}

export function consumeRunEventsDeadLetters(batch: MessageBatch<unknown>): void {
  for (const message of batch.messages) {
    const parsed = runEventsMessageSchema.safeParse(message.body);
    const what = parsed.success
      ? `${parsed.data.row?.pipeline ?? parsed.data.release?.shard}/${parsed.data.row?.id ?? parsed.data.release?.runId}`
      : message.id;
    console.error(`edgeserve run events: gave up on the message of ${what}; the run itself is unaffected`);
    message.ack();
  }
}
