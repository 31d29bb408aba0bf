/**
 * The final index rows of sync runs, sent by the callers' isolate many at a time. A sync run that
 * ends while its caller waits hands its row to the caller in its answer (durable-objects/run/
 * run-session.ts) instead of sending a run-events message of its own; this isolate gathers the
 * rows its requests bring back for 100 ms and sends them as one message. A message costs
 * its sender, the broker and the consumer far more than its rows do, so this takes most of the run
 * index's cost off a sync run.
 *
 * Nothing is given up: a message the queue refuses hands each of its rows back to its run
 * (`indexUndelivered`, as the dead-letter consumer does), whose alarm sends it again. The one gap:
 * an isolate that dies in the window between a run's answer and the batch's send (the window is
 * held open by the request's `waitUntil`, which outlives a deploy) loses those rows (README, "The
 * run index").
 */
import type { RunIndexRowMessage } from "../runs/index-row";
import type { WaitUntil } from "./admission-slots";
import { RunClient } from "./run-client";
import { INDEX_ROWS_PER_MESSAGE, sendRunEvents } from "./run-index";

/** Room a batch leaves under the queue's 128 KB a message. */
const MAX_BATCH_BYTES = 96 * 1024;

const encoder = new TextEncoder();

/**
 * Where the batch sends (`env.INDEX_QUEUE`) and how long it gathers rows (100 ms). A test seam, and
 * nothing else changes it: a test swaps `queueOf` for a queue that records or refuses sends, or
 * widens the window to gather a known set of rows, and puts both back after.
 */
export const runIndexBatching = { queueOf: (env: Env): Queue => env.INDEX_QUEUE, windowMs: 100 };

interface Batch {
  rows: RunIndexRowMessage[];
  bytes: number;
}

/** The batch gathering rows now, if any (one per isolate). */
let open: Batch | undefined;

/** Adds a sync run's final row to the isolate's batch; the request that opens a batch holds it open until it is sent. */
export function sendWithOtherRuns(env: Env, waitUntil: WaitUntil, row: RunIndexRowMessage): void {
  const bytes = encoder.encode(JSON.stringify(row)).byteLength;
  // A full batch is closed; its own timer still sends it.
  if (open && (open.rows.length >= INDEX_ROWS_PER_MESSAGE || open.bytes + bytes > MAX_BATCH_BYTES)) open = undefined;
  if (!open) {
    const batch: Batch = { rows: [], bytes: 0 };
    open = batch;
    waitUntil(sendAfterWindow(env, batch));
  }
  open.rows.push(row);
  open.bytes += bytes;
}

async function sendAfterWindow(env: Env, batch: Batch): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, runIndexBatching.windowMs));
  if (open === batch) open = undefined;
  if (await sendRunEvents(runIndexBatching.queueOf(env), { rows: batch.rows })) return;
  await Promise.all(batch.rows.map((row) => handBack(env, row)));
}

/** The queue refused the batch: the row goes back to its run, whose alarm sends it again. */
async function handBack(env: Env, row: RunIndexRowMessage): Promise<void> {
  const what = `${row.pipeline}/${row.id}`;
  try {
    const found = await new RunClient(env, row.pipeline, row.id).indexUndelivered(row.created_at);
    if (found) console.error(`edgeserve run index: the queue refused the row of ${what}; its run sends it again`);
  } catch (error) {
    console.error(`edgeserve run index: the queue refused the row of ${what}, and its run could not be told; the row is lost: ${String(error)}`);
  }
}
