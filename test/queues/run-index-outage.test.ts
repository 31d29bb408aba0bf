/**
 * The run index while D1 is down, through the real Miniflare queue, consumers and Run objects; only
 * D1 is faulty (test/helpers/faulty-d1.ts, in place of the consumer's database). Down for a few
 * seconds: the queue redelivers the row after the consumer's backoff and it is written. Down for
 * long: every delivery is refused, 2 s then 4 s apart (the backoff; two redeliveries in
 * vitest.config.ts), the row goes to the dead-letter queue, whose consumer hands it back to its Run
 * object; the object's alarm sends it again while D1 is still down, and once D1 is back the row is
 * written: never lost. Each step is awaited on its signal (refusals, the object's pending flag).
 */
import { evictDurableObject } from "cloudflare:test";
import { afterEach, describe, it, vi } from "vitest";
import { type FaultyD1, installFaultyD1 } from "../helpers/faulty-d1";
import { indexPending, indexRow, runToEnd } from "../helpers/run-index";
import { inHostedRun, runRunAlarm, runStub } from "../helpers/runs";
import { editStoredRun } from "../helpers/stored-run";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-echo";
let d1: FaultyD1 | undefined;
afterEach(() => d1?.restore());

describe("the run index while D1 is down", () => {
  it("writes an ended run's row when D1 is back after a few seconds", { timeout: 15_000 }, async ({ expect }) => {
    d1 = installFaultyD1();
    d1.down();
    const id = uniqueId("d1-blip");
    await runToEnd(PIPELINE, id);
    await vi.waitFor(() => expect(d1?.refusals.length).toBe(1), { timeout: 3000, interval: 20 });
    d1.up();

    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed" }), { timeout: 8000, interval: 50 });
    const [refused] = d1.refusals;
    // Redelivered after the backoff's first step (2 s), not at once, and written on that delivery.
    expect(Date.now() - refused!.at).toBeGreaterThanOrEqual(1900);
    expect(d1.refusals).toHaveLength(1);
    // It never reached the dead-letter queue: its Run object was not asked to send it again.
    expect(await indexPending(PIPELINE, id)).toBe(false);
  });

  it("keeps the row while D1 stays down: backoff, dead-letter queue, re-sent by its Run object", { timeout: 30_000 }, async ({ expect }) => {
    d1 = installFaultyD1();
    d1.down();
    const id = uniqueId("d1-down");
    await runToEnd(PIPELINE, id);

    // Every delivery refused, then dead-lettered and handed back to the Run object.
    await vi.waitFor(async () => expect(await indexPending(PIPELINE, id)).toBe(true), { timeout: 15_000, interval: 100 });
    const at = d1.refusals.map((r) => r.at);
    expect(at).toHaveLength(3);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(1900);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(3900);
    expect(await indexRow(PIPELINE, id)).toBeNull();

    // Still down: the object's alarm sends the row again, and the queue takes it (it is not lost).
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    expect(await indexPending(PIPELINE, id)).toBe(false);
    await vi.waitFor(() => expect(d1?.refusals.length).toBe(4), { timeout: 3000, interval: 20 });

    d1.up();
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toMatchObject({ status: "completed" }), { timeout: 8000, interval: 50 });
  });

  it("deletes an expired run's row once D1 is back, though the deletion was dead-lettered", { timeout: 30_000 }, async ({ expect }) => {
    const id = uniqueId("d1-forget");
    await runToEnd(PIPELINE, id);
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).not.toBeNull(), { timeout: 3000, interval: 50 });

    d1 = installFaultyD1();
    d1.down();
    // The run's retention ends: its storage goes at once, its row's deletion through the queue.
    await inHostedRun(PIPELINE, id, (run) => editStoredRun(run.store, (row) => (row.expiresAt = Date.now() - 1)));
    await evictDurableObject(runStub(PIPELINE, id));
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);

    // Every delivery refused, then dead-lettered and handed back to the object's tombstone.
    await vi.waitFor(async () => expect(await pendingForget(id)).toMatchObject({ id, pipeline: PIPELINE }), { timeout: 15_000, interval: 100 });
    expect(d1.refusals).toHaveLength(3);
    expect(await indexRow(PIPELINE, id)).not.toBeNull();

    // Still down: the alarm tries again and keeps it; once D1 is back, the alarm's try deletes the row.
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    await vi.waitFor(() => expect(d1?.refusals.length).toBe(4), { timeout: 3000, interval: 20 });
    d1.up();
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    await vi.waitFor(async () => expect(await indexRow(PIPELINE, id)).toBeNull(), { timeout: 8000, interval: 50 });
    expect(await pendingForget(id)).toBeUndefined();
  });
});

/** The index row an expired run's tombstone still has to delete. */
function pendingForget(id: string): Promise<unknown> {
  return inHostedRun(PIPELINE, id, (run) => run.store.get<{ forget?: unknown }>("expired")?.forget);
}
