/**
 * The run-events queue consumer, driven with `createMessageBatch` and judged by `getQueueResult`
 * (acks and retries asserted, not only their effects in D1): valid rows are written in one batch
 * and acknowledged, invalid messages are acknowledged and dropped, rows delivered out of order
 * never let an older version replace a newer one, and slot releases reach their shard once.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import { INDEX_ROWS_PER_MESSAGE } from "../../src/engine/run-index";
import { describe, it, vi } from "vitest";
import type { RunIndexRowMessage } from "../../src/runs/index-row";
import { installFaultyD1 } from "../helpers/faulty-d1";

function row(id: string, status: RunIndexRowMessage["status"], version: number): RunIndexRowMessage {
  return {
    pipeline: "queue-test",
    id,
    surface: "zenml",
    status,
    run_name: null,
    created_at: 1_000,
    finished_at: status === "running" ? null : 2_000,
    duration_ms: status === "running" ? null : 1_000,
    steps_executed: 1,
    error: null,
    cancel_reason: null,
    expires_at: null,
    parameters_preview: null,
    result_preview: null,
    version,
  };
}

async function deliver(messages: { id: string; body: unknown; attempts?: number }[]) {
  const batch = createMessageBatch(
    "edgeserve-run-index",
    messages.map((m) => ({ attempts: 1, ...m, timestamp: new Date() })),
  );
  // getQueueResult names the retried messages but not their delays: those are read off `retry`.
  const retries = batch.messages.map((message) => ({ id: message.id, retry: vi.spyOn(message, "retry") }));
  const ctx = createExecutionContext();
  // The handler is called directly: `satisfies ExportedHandler` keeps `worker.queue` callable.
  await worker.queue(batch, env);
  const delays = retries.flatMap(({ id, retry }) => retry.mock.calls.map(([options]) => ({ msgId: id, delaySeconds: options?.delaySeconds })));
  return { ...(await getQueueResult(batch, ctx)), delays };
}

const statusOf = async (id: string) =>
  (await env.DB.prepare("SELECT status, version FROM runs WHERE pipeline = 'queue-test' AND id = ?").bind(id).first()) as {
    status: string;
    version: number;
  } | null;

describe("run-events consumer", () => {
  it("writes valid rows and acknowledges each message", async ({ expect }) => {
    const id = crypto.randomUUID();
    const result = await deliver([{ id: "m1", body: { row: row(id, "completed", 9) } }]);
    expect(result.explicitAcks).toEqual(["m1"]);
    expect(result.retryMessages).toEqual([]);
    expect(await statusOf(id)).toEqual({ status: "completed", version: 9 });
  });

  it("acknowledges and drops a message that is not a row", async ({ expect }) => {
    const result = await deliver([
      { id: "bad", body: { pipeline: 42 } },
      { id: "bare-row", body: row(crypto.randomUUID(), "completed", 1) },
      { id: "empty", body: {} },
    ]);
    expect(result.explicitAcks).toEqual(["bad", "bare-row", "empty"]);
    expect(result.retryMessages).toEqual([]);
  });

  it("keeps the newest version when rows arrive out of order, in one batch or across batches", async ({ expect }) => {
    const id = crypto.randomUUID();
    await deliver([{ id: "late", body: { row: row(id, "completed", 9) } }]);
    const result = await deliver([{ id: "early", body: { row: row(id, "running", 2) } }]);
    expect(result.explicitAcks).toEqual(["early"]);
    expect(await statusOf(id)).toEqual({ status: "completed", version: 9 });
  });

  it("retries rows D1 refuses with a backoff that grows with each delivery: 2 s, doubling, at most 5 min", async ({ expect }) => {
    const d1 = installFaultyD1();
    try {
      d1.down();
      const result = await deliver([
        { id: "first", body: { row: row(crypto.randomUUID(), "completed", 3) }, attempts: 1 },
        { id: "fourth", body: { row: row(crypto.randomUUID(), "completed", 3) }, attempts: 4 },
        { id: "tenth", body: { row: row(crypto.randomUUID(), "completed", 3) }, attempts: 10 },
      ]);
      expect(d1.refusals.length).toBeGreaterThan(0);
      expect(result.explicitAcks).toEqual([]);
      expect(result.retryMessages.map((m) => m.msgId)).toEqual(["first", "fourth", "tenth"]);
      expect(result.delays).toEqual([
        { msgId: "first", delaySeconds: 2 },
        { msgId: "fourth", delaySeconds: 16 },
        { msgId: "tenth", delaySeconds: 300 },
      ]);
    } finally {
      d1.restore();
    }
  });
});

describe("run-events consumer when D1 refuses one message of a batch", () => {
  it("writes and acknowledges every other message, and retries only the refused one", async ({ expect }) => {
    const [good1, refused, good2] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const d1 = installFaultyD1();
    try {
      d1.refuseRowsBinding(refused);
      const result = await deliver([
        { id: "good-1", body: { row: row(good1, "completed", 4) } },
        { id: "refused", body: { row: row(refused, "completed", 4) }, attempts: 3 },
        { id: "invalid", body: { row: { id: 7 } } },
        { id: "good-2", body: { row: row(good2, "failed", 5) } },
      ]);
      // The batch was tried whole first, then message by message.
      expect(d1.refusals.map((r) => r.statements)).toEqual([3, 1]);
      expect([...result.explicitAcks].sort()).toEqual(["good-1", "good-2", "invalid"]);
      expect(result.retryMessages.map((m) => m.msgId)).toEqual(["refused"]);
      expect(result.delays).toEqual([{ msgId: "refused", delaySeconds: 8 }]);
      expect(await statusOf(good1)).toEqual({ status: "completed", version: 4 });
      expect(await statusOf(good2)).toEqual({ status: "failed", version: 5 });
      expect(await statusOf(refused)).toBeNull();
    } finally {
      d1.restore();
    }
  });

  it("writes a whole batch in one D1 batch when D1 takes it", async ({ expect }) => {
    const d1 = installFaultyD1();
    try {
      const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      const result = await deliver(ids.map((id, i) => ({ id: `m${i}`, body: { row: row(id, "running", 1) } })));
      expect(d1.written).toEqual([3]);
      expect([...result.explicitAcks].sort()).toEqual(["m0", "m1", "m2"]);
      expect(result.retryMessages).toEqual([]);
    } finally {
      d1.restore();
    }
  });
});

describe("run-events consumer and a message of many runs' rows (an isolate's batch)", () => {
  it("writes its rows with the other messages in one D1 batch and acknowledges it", async ({ expect }) => {
    const d1 = installFaultyD1();
    try {
      const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
      const result = await deliver([
        { id: "rows", body: { rows: [row(ids[0]!, "completed", 4), row(ids[1]!, "failed", 5)] } },
        { id: "one", body: { row: row(ids[2]!, "running", 1) } },
      ]);
      expect(d1.written).toEqual([3]);
      expect([...result.explicitAcks].sort()).toEqual(["one", "rows"]);
      expect(await statusOf(ids[0]!)).toEqual({ status: "completed", version: 4 });
      expect(await statusOf(ids[1]!)).toEqual({ status: "failed", version: 5 });
    } finally {
      d1.restore();
    }
  });

  it("writes its other rows when D1 refuses one, and retries it (the written rows are written again, unchanged)", async ({ expect }) => {
    const [good, refused] = [crypto.randomUUID(), crypto.randomUUID()];
    const d1 = installFaultyD1();
    try {
      d1.refuseRowsBinding(refused);
      const result = await deliver([{ id: "rows", body: { rows: [row(good, "completed", 4), row(refused, "completed", 4)] }, attempts: 2 }]);
      // Tried whole, then row by row.
      expect(d1.refusals.map((r) => r.statements)).toEqual([2, 1]);
      expect(d1.written).toEqual([1]);
      expect(result.retryMessages.map((m) => m.msgId)).toEqual(["rows"]);
      expect(result.delays).toEqual([{ msgId: "rows", delaySeconds: 4 }]);
      expect(await statusOf(good)).toEqual({ status: "completed", version: 4 });
      expect(await statusOf(refused)).toBeNull();
    } finally {
      d1.restore();
    }
  });

  it("acknowledges and drops a message of rows that is not valid (empty, or too many rows)", async ({ expect }) => {
    const many = Array.from({ length: INDEX_ROWS_PER_MESSAGE + 1 }, () => row(crypto.randomUUID(), "completed", 1));
    const result = await deliver([
      { id: "empty", body: { rows: [] } },
      { id: "many", body: { rows: many } },
    ]);
    expect([...result.explicitAcks].sort()).toEqual(["empty", "many"]);
    expect(await statusOf(many[0]!.id)).toBeNull();
  });
});

describe("run-events consumer and expired runs", () => {
  it("does not write a row delivered after its run's retention ended, so the row's deletion stays", async ({ expect }) => {
    const id = crypto.randomUUID();
    const key = { pipeline: "queue-test", id, created_at: 1_000 };
    await deliver([{ id: "row", body: { row: { ...row(id, "running", 2), expires_at: null } } }]);
    const late = { ...row(id, "completed", 9), expires_at: Date.now() - 1 };
    // The deletion first (the run expired), then its final row, redelivered late.
    await deliver([{ id: "forget", body: { forget: key } }]);
    expect(await statusOf(id)).toBeNull();
    const result = await deliver([{ id: "late", body: { row: late } }]);
    expect(result.explicitAcks).toEqual(["late"]);
    expect(await statusOf(id)).toBeNull();
    // A row whose retention is still running is written as ever.
    await deliver([{ id: "kept", body: { row: { ...late, expires_at: Date.now() + 60_000 } } }]);
    expect(await statusOf(id)).toEqual({ status: "completed", version: 9 });
  });
});
