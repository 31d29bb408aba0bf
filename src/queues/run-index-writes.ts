/**
 * The D1 part of a batch of run-events messages: each message's index row (an upsert) and the row
 * of an expired run (a delete). The whole batch goes to D1 in one `batch` first (one round trip,
 * one implicit transaction). A D1 batch is all or nothing, so one statement D1 refuses would fail
 * every message with it: when the batch fails, each message is written alone, and only those D1
 * still refuses are reported failed (for the consumer to retry), the others written. A row whose
 * run's retention has already ended is acknowledged without being written.
 */
import { forgetRunIndexRow, upsertRunIndexRow, type RunEventsMessage, type RunIndexRowMessage } from "../engine/run-index";

export interface IndexWrite {
  message: Message<unknown>;
  body: RunEventsMessage;
}

interface Statements {
  write: IndexWrite;
  statements: D1PreparedStatement[];
  /** Whether the first statement is the row's upsert (for the count of rows written). */
  upserts: boolean;
}

/** Writes the messages' rows and deletes; returns the messages D1 did not take. */
export async function writeRunIndex(db: D1Database, writes: readonly IndexWrite[]): Promise<Set<Message<unknown>>> {
  const failed = new Set<Message<unknown>>();
  const all = writes.map((write) => statementsOf(db, write)).filter((s) => s.statements.length > 0);
  if (all.length === 0) return failed;
  try {
    const results = await db.batch(all.flatMap((s) => s.statements));
    logWritten(all, results);
    return failed;
  } catch (error) {
    const [only] = all;
    if (all.length === 1 && only) {
      console.error(`edgeserve run index: D1 refused message ${describe(only.write)}, will retry: ${String(error)}`);
      failed.add(only.write.message);
      return failed;
    }
    console.error(`edgeserve run index: D1 refused a batch of ${all.length} messages, writing each alone: ${String(error)}`);
  }
  // One at a time: D1 runs one query at a time anyway, and a refusal is known before the next try.
  for (const one of all) {
    try {
      await db.batch(one.statements);
    } catch (error) {
      console.error(`edgeserve run index: D1 refused message ${describe(one.write)}, will retry: ${String(error)}`);
      failed.add(one.write.message);
    }
  }
  console.log(`edgeserve run index: wrote ${all.length - failed.size} of ${all.length} messages one by one`);
  return failed;
}

function statementsOf(db: D1Database, write: IndexWrite): Statements {
  const { row: sent, forget } = write.body;
  const row = sent && !retentionEnded(sent) ? sent : undefined;
  const statements: D1PreparedStatement[] = [];
  if (row) statements.push(upsertRunIndexRow(db, row));
  if (forget) statements.push(forgetRunIndexRow(db, forget));
  return { write, statements, upserts: row !== undefined };
}

/**
 * A row whose run's retention has ended is not written: its Run object has deleted the run (or is
 * about to) and sends the row's deletion, which a row redelivered late must not undo.
 */
function retentionEnded(row: RunIndexRowMessage): boolean {
  if (row.expires_at === null || row.expires_at > Date.now()) return false;
  console.log(`edgeserve run index: not writing the row of ${row.pipeline}/${row.id}: its retention has ended`);
  return true;
}

/** What D1 bills: 1 row written per new or newer row (migrations/0003), 0 for an older version. */
function logWritten(all: readonly Statements[], results: readonly D1Result[]): void {
  let rows = 0;
  let written = 0;
  let at = 0;
  for (const s of all) {
    if (s.upserts) {
      rows++;
      written += results[at]?.meta?.rows_written ?? 0;
    }
    at += s.statements.length;
  }
  if (rows > 0) console.log(`edgeserve run index: ${rows} rows in a batch, D1 rows written: ${written}`);
}

function describe({ message, body }: IndexWrite): string {
  const key = body.row ?? body.forget;
  return key ? `${message.id} (${key.pipeline}/${key.id})` : message.id;
}
