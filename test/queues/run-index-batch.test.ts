/**
 * The isolate's batch of sync runs' index rows (src/engine/run-index-batch.ts): a sync run that
 * ends while its caller waits hands its final row to the caller, and the caller's isolate sends
 * many runs' rows in one run-events message. Real Run objects, queue and D1; the batch's queue is
 * the real one behind a seam that records or refuses its sends (test/helpers/index-batch-queue.ts).
 */
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { INDEX_RETRY_DELAY_MS } from "../../durable-objects/run/run-indexer";
import { INDEX_ROWS_PER_MESSAGE } from "../../src/engine/run-index";
import { sendWithOtherRuns } from "../../src/engine/run-index-batch";
import type { RunIndexRowMessage } from "../../src/runs/index-row";
import worker from "../../src/index";
import { post } from "../helpers/http";
import { recordBatchQueue } from "../helpers/index-batch-queue";
import { alarmAt, indexPending, indexRow, runToEnd } from "../helpers/run-index";
import { inHostedRun, runRunAlarm } from "../helpers/runs";
import { storedRow } from "../helpers/stored-run";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-echo";
const QUEUE_MESSAGE_LIMIT = 128 * 1024;

const handedToStarter = (id: string) => inHostedRun(PIPELINE, id, (run) => storedRow(run.store).indexToStarter === true);

describe("the final rows of sync runs", () => {
  it("reach the index in one message from their callers' isolate, not one message per run", async ({ expect }) => {
    const queue = recordBatchQueue();
    try {
      // A window wide enough that the six answers surely land in one batch, however slow the machine.
      queue.widenWindow(2000);
      const ids = Array.from({ length: 6 }, () => uniqueId("batched"));
      const answers = await Promise.all(ids.map((id) => post(`/pipelines/${PIPELINE}/v1/process/sync`, { a: 1 }, { "X-Numaflow-Id": id })));
      expect(answers.map((answer) => answer.status)).toEqual(ids.map(() => 200));
      await vi.waitFor(
        async () => {
          for (const id of ids) expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed", surface: "numaflow", steps_executed: 2 });
        },
        { timeout: 8000, interval: 50 },
      );
      const carrying = queue.sent.filter((message) => message.rows.some((row) => ids.includes(row.id)));
      expect(carrying).toHaveLength(1);
      expect(
        carrying[0]?.rows
          .map((row) => row.id)
          .filter((id) => ids.includes(id))
          .sort(),
      ).toEqual([...ids].sort());
      // Each run marked that its row went with its answer (so it sent no message of its own).
      for (const id of ids) expect(await handedToStarter(id)).toBe(true);
    } finally {
      queue.restore();
    }
  }, 20_000);

  it("go back to their runs when the queue refuses the batch, and each run's alarm sends its row", async ({ expect }) => {
    const queue = recordBatchQueue();
    try {
      queue.refuse(true);
      const id = uniqueId("batch-refused");
      await runToEnd(PIPELINE, id);
      await vi.waitFor(async () => expect(await indexPending(PIPELINE, id)).toBe(true), { timeout: 5000, interval: 20 });
      expect(queue.refusals).toBeGreaterThanOrEqual(1);
      expect(await indexRow(PIPELINE, id)).toBeNull();
      expect((await alarmAt(PIPELINE, id))! - Date.now()).toBeLessThanOrEqual(INDEX_RETRY_DELAY_MS);

      // The run sends it itself, through its own queue binding.
      expect(await runRunAlarm(PIPELINE, id)).toBe(true);
      await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed" }), { timeout: 5000, interval: 20 });
      expect(await indexPending(PIPELINE, id)).toBe(false);
    } finally {
      queue.restore();
    }
  });

  it("are split so that no message passes the queue's 128 KB or the consumer's row count", async ({ expect }) => {
    const queue = recordBatchQueue();
    const ctx = createExecutionContext();
    try {
      const rows = [...Array.from({ length: 70 }, (_, i) => row(`small-${i}`, 10)), ...Array.from({ length: 20 }, (_, i) => row(`large-${i}`, 16_000))];
      for (const one of rows) sendWithOtherRuns(env, (promise) => ctx.waitUntil(promise), one);
      await waitOnExecutionContext(ctx);
      const sent = queue.sent.flatMap((message) => message.rows.map((r) => r.id)).filter((id) => id.startsWith(PREFIX));
      expect(sent.sort()).toEqual(rows.map((r) => r.id).sort());
      for (const message of queue.sent) expect(message.rows.length).toBeLessThanOrEqual(INDEX_ROWS_PER_MESSAGE);
      for (const size of queue.sizes) expect(size).toBeLessThan(QUEUE_MESSAGE_LIMIT);
      // The large rows (two 16 KB previews each) needed messages of a few rows each.
      expect(queue.sent.length).toBeGreaterThanOrEqual(2 + Math.ceil((20 * 32_000) / QUEUE_MESSAGE_LIMIT));
    } finally {
      queue.restore();
    }
  });
});

describe("a dead-lettered message of many runs' rows", () => {
  it("hands each row back to its own run, and drops the rows whose runs are gone", async ({ expect }) => {
    const [first, second] = [uniqueId("dead-batch"), uniqueId("dead-batch")];
    await runToEnd(PIPELINE, first);
    await runToEnd(PIPELINE, second);
    const rows = await vi.waitFor(
      async () => {
        const both = [await indexRow(PIPELINE, first), await indexRow(PIPELINE, second)];
        expect(both.every((r) => r !== null)).toBe(true);
        return both as RunIndexRowMessage[];
      },
      { timeout: 5000, interval: 20 },
    );
    const gone = { ...rows[0]!, id: uniqueId("never-ran") };
    const batch = createMessageBatch("edgeserve-run-index-dlq", [{ id: "dead", body: { rows: [...rows, gone] }, timestamp: new Date(), attempts: 1 }]);
    await worker.queue(batch, env);
    const result = await getQueueResult(batch, createExecutionContext());
    expect(result.explicitAcks).toEqual(["dead"]);
    expect(result.retryMessages).toEqual([]);
    expect(await indexPending(PIPELINE, first)).toBe(true);
    expect(await indexPending(PIPELINE, second)).toBe(true);
  });
});

const PREFIX = "batch-limits-";

function row(id: string, previewBytes: number): RunIndexRowMessage {
  return {
    pipeline: "batch-limits",
    id: `${PREFIX}${id}`,
    surface: "native",
    status: "completed",
    run_name: null,
    created_at: 1_000,
    finished_at: 2_000,
    duration_ms: 1_000,
    steps_executed: 1,
    error: null,
    cancel_reason: null,
    expires_at: null,
    parameters_preview: "p".repeat(previewBytes),
    result_preview: "r".repeat(previewBytes),
    version: 3,
  };
}
