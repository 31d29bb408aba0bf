/**
 * The D1 part of a batch of run-events messages: each message's index rows (upserts) and the row
 * of an expired run (a delete). The whole batch goes to D1 in one `batch` first (one round trip,
 * one implicit transaction). A D1 batch is all or nothing, so one statement D1 refuses would fail
 * every message with it: when the batch fails, each statement is written alone, and only the
 * messages with a statement D1 still refuses are reported failed (for the consumer to retry), the
 * others written. A row whose run's retention has already ended is acknowledged without being
 * written.
 */
import type { SlotRelease } from "../admission/protocol";
import { forgetRunIndexRow, upsertRunIndexRow, type RunEventsQueueBody, type RunIndexKey } from "../engine/run-index";
import type { RunIndexRowMessage } from "../runs/index-row";

/** A run-events message's parts: a run's row (or an isolate's rows of many runs), a slot release, a row to delete. */
export interface RunEventsParts {
  rows: RunIndexRowMessage[];
  release?: SlotRelease;
  forget?: RunIndexKey;
}

export function partsOf(body: RunEventsQueueBody): RunEventsParts {
  if ("rows" in body) return { rows: body.rows };
  const { row, release, forget } = body;
  return { rows: row ? [row] : [], ...(release ? { release } : {}), ...(forget ? { forget } : {}) };
}

export interface IndexWrite {
  message: Message<unknown>;
  body: RunEventsParts;
}

interface Statements {
  write: IndexWrite;
  statements: D1PreparedStatement[];
  /** How many of the statements, first, are upserts of rows (for the count of rows written). */
  upserts: number;
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
    if (all.length === 1 && only && only.statements.length === 1) {
      console.error(`edgeserve run index: D1 refused message ${describe(only.write)}, will retry: ${String(error)}`);
      failed.add(only.write.message);
      return failed;
    }
    console.error(`edgeserve run index: D1 refused a batch of ${all.length} messages, writing each row alone: ${String(error)}`);
  }
  // One statement at a time: D1 runs one query at a time anyway, and a refusal is known before the
  // next try. A message of many runs' rows is retried when one of its rows is refused; its other
  // rows are written now, and written again by the retry (same version: no change).
  for (const one of all) {
    for (const statement of one.statements) {
      try {
        await db.batch([statement]);
      } catch (error) {
        console.error(`edgeserve run index: D1 refused a row of message ${describe(one.write)}, will retry: ${String(error)}`);
        failed.add(one.write.message);
      }
    }
  }
  console.log(`edgeserve run index: wrote ${all.length - failed.size} of ${all.length} messages one row at a time`);
  return failed;
}

function statementsOf(db: D1Database, write: IndexWrite): Statements {
  const { rows, forget } = write.body;
  const statements = rows.filter((row) => !retentionEnded(row)).map((row) => upsertRunIndexRow(db, row));
  const upserts = statements.length;
  if (forget) statements.push(forgetRunIndexRow(db, forget));
  return { write, statements, upserts };
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
    for (let i = 0; i < s.upserts; i++) written += results[at + i]?.meta?.rows_written ?? 0;
    rows += s.upserts;
    at += s.statements.length;
  }
  if (rows > 0) console.log(`edgeserve run index: ${rows} rows in a batch, D1 rows written: ${written}`);
}

function describe({ message, body }: IndexWrite): string {
  const [first, ...others] = body.rows;
  const key = first ?? body.forget;
  if (!key) return message.id;
  return `${message.id} (${key.pipeline}/${key.id}${others.length > 0 ? ` and ${others.length} more` : ""})`;
}
