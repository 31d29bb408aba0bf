/**
 * The run-events queue's consumer: writes a batch's run-index rows and the deletes of expired runs'
 * rows to D1 in one batch, falling back to one message at a time when D1 refuses it
 * (run-index-writes.ts), and hands each admission shard the slot releases of the batch in one call.
 * Each message is acknowledged or retried on its own. A message that is not valid is acknowledged
 * and logged (retrying cannot fix it); a message whose D1 write or shard call failed is retried,
 * alone, with a backoff (2 s doubling to 5 min, `retryDelaySeconds`); after `max_retries` they go to the dead-letter queue, whose consumer
 * hands each unwritten row back to its Run object, which sends it again from its alarm for as long
 * as the run exists (durable-objects/run/run-indexer.ts). A shard's lease ends any slot whose
 * release was dead-lettered.
 */
import type { ReleaseBatch } from "../admission/protocol";
import { RunClient } from "../engine/run-client";
import { runEventsQueueBodySchema } from "../engine/run-index";
import { backoffSeconds } from "../pipeline/retry";
import type { RunIndexRowMessage } from "../runs/index-row";
import { partsOf, type RunEventsParts, writeRunIndex } from "./run-index-writes";

/** Redelivery of a message whose write failed: 2 s after its first delivery, doubling, at most 5 min. */
const REDELIVERY = { backoffSeconds: 2, backoffMultiplier: 2, maxBackoffSeconds: 300 } as const;

/** How long to wait before delivering a message again that failed on its `attempts`-th delivery. */
export function retryDelaySeconds(attempts: number): number {
  return backoffSeconds({ ...REDELIVERY, maxAttempts: 1 }, attempts);
}

/**
 * Where the consumer finds the run index: `env.DB`. A test seam, and nothing else changes it: a
 * test swaps `of` for a database that refuses writes (test/helpers/faulty-d1.ts) to see what the
 * consumer does while D1 is down, and puts it back after.
 */
export const runIndexDatabase = { of: (env: Env): D1Database => env.DB };

interface Parsed {
  message: Message<unknown>;
  body: RunEventsParts;
}

export async function consumeRunEvents(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const parsed: Parsed[] = [];
  for (const message of batch.messages) {
    const result = runEventsQueueBodySchema.safeParse(message.body);
    if (result.success) {
      parsed.push({ message, body: partsOf(result.data) });
    } else {
      console.error(`edgeserve run events: dropped an invalid message ${message.id}: ${result.error.issues[0]?.message ?? "invalid"}`);
      message.ack();
    }
  }
  // A message is acknowledged once each of its parts is written; a failed part retries it (both
  // parts are idempotent: rows carry a version, shards ignore a release they have applied).
  const failed = new Set<Message<unknown>>();
  await Promise.all([writeIndex(parsed, env, failed), releaseSlots(parsed, env, failed)]);
  for (const { message } of parsed) {
    if (failed.has(message)) message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    else message.ack();
  }
}

async function writeIndex(parsed: Parsed[], env: Env, failed: Set<Message<unknown>>): Promise<void> {
  for (const message of await writeRunIndex(runIndexDatabase.of(env), parsed)) failed.add(message);
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

/**
 * The dead-letter queue's consumer. A row that used up its retries goes back to its Run object,
 * which sends it again from its alarm (it builds the row afresh, so the newest version goes); a
 * Run object that cannot be reached now is asked again after a backoff. A row whose run is gone
 * (expired) and a slot release are logged and dropped (a shard's lease ends any slot).
 */
export async function consumeRunEventsDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  await Promise.all(batch.messages.map((message) => handBack(message, env)));
}

async function handBack(message: Message<unknown>, env: Env): Promise<void> {
  const parsed = runEventsQueueBodySchema.safeParse(message.body);
  if (!parsed.success) {
    console.error(`edgeserve run events: dropped an invalid dead-lettered message ${message.id}`);
    return message.ack();
  }
  const { rows, release, forget } = partsOf(parsed.data);
  // Each row goes back to its own run; a row handed back twice (the message retried) is only sent twice.
  const handed = await Promise.all(rows.map((row) => handBackRow(row, env)));
  if (handed.includes(false)) return message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
  if (forget) {
    const what = `${forget.pipeline}/${forget.id}`;
    try {
      await new RunClient(env, forget.pipeline, forget.id).indexDeleteUndelivered(forget);
      console.error(`edgeserve run events: the index row of ${what} was not deleted; its Run object's alarm tries again`);
    } catch (error) {
      console.error(`edgeserve run events: could not hand the deletion of ${what}'s index row back to its Run object, will retry: ${String(error)}`);
      return message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
  if (release && rows.length === 0)
    console.error(`edgeserve run events: gave up releasing the slot of ${release.shard}/${release.runId}; its lease will end it`);
  message.ack();
}

/** Hands an unwritten row back to its run; false when the run could not be reached (the message is retried). */
async function handBackRow(row: RunIndexRowMessage, env: Env): Promise<boolean> {
  const what = `${row.pipeline}/${row.id}`;
  try {
    const found = await new RunClient(env, row.pipeline, row.id).indexUndelivered(row.created_at);
    if (found) console.error(`edgeserve run events: the index row of ${what} was not written; its Run object sends it again`);
    else console.error(`edgeserve run events: the index row of ${what} was not written, and its run is gone`);
    return true;
  } catch (error) {
    console.error(`edgeserve run events: could not hand the index row of ${what} back to its Run object, will retry: ${String(error)}`);
    return false;
  }
}
