/**
 * A run's index row is re-sent by its Run object for as long as the run exists: while the queue
 * refuses the send (the alarm tries again every INDEX_RETRY_DELAY_MS, and the retention alarm does
 * not push that retry back to the retention's end), and when the row was taken by the queue but
 * dead-lettered unwritten (the dead-letter consumer hands it back to the Run object). Real Run
 * objects, queue and D1; the queue's refusal is the Run object's fault seam (`faults`), and alarms
 * are run with `runDurableObjectAlarm` instead of waited for.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { INDEX_RETRY_DELAY_MS } from "../../durable-objects/run/run-indexer";
import worker from "../../src/index";
import { alarmAt, indexPending, indexRow, runAsyncToEnd, runToEnd } from "../helpers/run-index";
import { inHostedRun, runRunAlarm } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-echo";

async function deliverDeadLetters(messages: { id: string; body: unknown }[]) {
  const batch = createMessageBatch(
    "edgeserve-run-index-dlq",
    messages.map((m) => ({ ...m, timestamp: new Date(), attempts: 1 })),
  );
  await worker.queue(batch, env);
  return getQueueResult(batch, createExecutionContext());
}

describe("a run's index row while the queue refuses it", () => {
  it("is sent again by every alarm, each setting the next try soon, until the queue takes it", async ({ expect }) => {
    const id = uniqueId("index-refused");
    await inHostedRun(PIPELINE, id, (run) => {
      run.faults.refuseIndexSendsUntil = Number.MAX_SAFE_INTEGER;
    });
    // An async run: its Run object sends its row itself (a sync run's goes through its caller).
    await runAsyncToEnd(PIPELINE, id);
    await vi.waitFor(async () => expect(await indexPending(PIPELINE, id)).toBe(true), { timeout: 3000, interval: 20 });

    // Not only one retry: each alarm tries, fails, and sets the next try INDEX_RETRY_DELAY_MS on,
    // not at the end of the run's retention (a day on).
    for (let alarm = 1; alarm <= 3; alarm++) {
      expect(await runRunAlarm(PIPELINE, id)).toBe(true);
      const next = await alarmAt(PIPELINE, id);
      expect(next).not.toBeNull();
      expect(next! - Date.now()).toBeLessThanOrEqual(INDEX_RETRY_DELAY_MS);
      expect(await indexPending(PIPELINE, id)).toBe(true);
    }
    expect(await indexRow(PIPELINE, id)).toBeNull();

    await inHostedRun(PIPELINE, id, (run) => {
      run.faults.refuseIndexSendsUntil = 0;
    });
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed" }), { timeout: 3000, interval: 20 });
    expect(await indexPending(PIPELINE, id)).toBe(false);
    // Sent: the alarm is back at the retention's end.
    expect((await alarmAt(PIPELINE, id))! - Date.now()).toBeGreaterThan(INDEX_RETRY_DELAY_MS);
  });
});

describe("a run's index row dead-lettered unwritten", () => {
  it("goes back to its Run object, whose alarm sends the final row again over the running one", async ({ expect }) => {
    const id = uniqueId("index-dead");
    await runToEnd(PIPELINE, id);
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed" }), { timeout: 3000, interval: 20 });
    const final = (await indexRow(PIPELINE, id))!;
    // What D1 holds when the run's "running" row was written and its final row was not.
    await env.DB.prepare("UPDATE runs SET status = 'running', finished_at = NULL, duration_ms = NULL, version = 1 WHERE pipeline = ? AND id = ?")
      .bind(PIPELINE, id)
      .run();

    const result = await deliverDeadLetters([{ id: "dead", body: { row: final } }]);
    expect(result.explicitAcks).toEqual(["dead"]);
    expect(result.retryMessages).toEqual([]);
    expect(await indexPending(PIPELINE, id)).toBe(true);
    expect((await alarmAt(PIPELINE, id))! - Date.now()).toBeLessThanOrEqual(INDEX_RETRY_DELAY_MS);

    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toEqual(final), { timeout: 3000, interval: 20 });
    expect(await indexPending(PIPELINE, id)).toBe(false);
  });

  it("is dropped when its run is gone, or its id now holds a run created at another time", async ({ expect }) => {
    const id = uniqueId("index-dead-other");
    await runToEnd(PIPELINE, id);
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed" }), { timeout: 3000, interval: 20 });
    const final = (await indexRow(PIPELINE, id))!;
    const result = await deliverDeadLetters([
      { id: "gone", body: { row: { ...final, id: uniqueId("never-ran") } } },
      { id: "older-run", body: { row: { ...final, created_at: final.created_at - 1 } } },
      { id: "invalid", body: { row: { id: 1 } } },
    ]);
    expect([...result.explicitAcks].sort()).toEqual(["gone", "invalid", "older-run"]);
    expect(result.retryMessages).toEqual([]);
    expect(await indexPending(PIPELINE, id)).toBe(false);
  });
});
