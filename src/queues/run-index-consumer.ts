/**
 * The index queue's consumer: writes a batch of run-index rows to D1 in one batch. A message that
 * is not a valid row is acknowledged and logged (retrying cannot fix it); a D1 failure retries
 * the batch with a delay, and after `max_retries` the rows go to the dead-letter queue, whose
 * consumer logs them (the Run objects still hold every run).
 */
import { runIndexRowSchema, upsertRunIndexRow, type RunIndexRowMessage } from "../runs/run-index-row";

/** Delay before a batch whose D1 write failed is tried again. */
const RETRY_DELAY_SECONDS = 5;

export async function consumeRunIndex(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const rows: { message: Message<unknown>; row: RunIndexRowMessage }[] = [];
  for (const message of batch.messages) {
    const parsed = runIndexRowSchema.safeParse(message.body);
    if (parsed.success) {
      rows.push({ message, row: parsed.data });
    } else {
      console.error(`edgeserve run index: dropped an invalid message ${message.id}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      message.ack();
    }
  }
  if (rows.length === 0) return;
  try {
    await env.DB.batch(rows.map(({ row }) => upsertRunIndexRow(env.DB, row)));
    for (const { message } of rows) message.ack();
  } catch (error) {
    console.error(`edgeserve run index: writing ${rows.length} rows failed, will retry: ${String(error)}`);
    for (const { message } of rows) message.retry({ delaySeconds: RETRY_DELAY_SECONDS });
  }
}

export function consumeRunIndexDeadLetters(batch: MessageBatch<unknown>): void {
  for (const message of batch.messages) {
    const parsed = runIndexRowSchema.safeParse(message.body);
    const what = parsed.success ? `${parsed.data.pipeline}/${parsed.data.id} (${parsed.data.status})` : message.id;
    console.error(`edgeserve run index: gave up on the row of ${what}; the run itself is unaffected`);
    message.ack();
  }
}
