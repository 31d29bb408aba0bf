/**
 * Admission shards under faults, and what they cost, with one shard (vitest.config.ts) on
 * `test-admission` (1 concurrent run, 1 queued).
 *
 * A queued run is started by its shard calling the Run object's `admit` ("promotion"). Here that
 * call fails on purpose, through the shard's fault-injection seam (`promotionFaults`, reachable
 * only through `runInDurableObject`): before the call reaches the Run object (it was unreachable),
 * or after the Run object admitted the run (the answer was lost on the way back). Each test first
 * checks that the fault really happened (the shard's failure counter, the run still waiting in the
 * shard's queue), then runs the shard's alarm, which is the retry, with `runDurableObjectAlarm`.
 * Throughout, the shard never counts more than the limit of 1 slot, and the slot comes back at
 * the end (a later run is admitted).
 *
 * Last, what a shard writes: `rowsWritten` (every statement's `cursor.rowsWritten`) over sync runs
 * of the default pipeline with the default limits, where isolates lease slots in blocks.
 *
 * Storage is per test file, so these shards are not shared with admission.test.ts.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { AdmissionObject, PromotionFault } from "../../durable-objects/admission/admission-object";
import { BLOCK_WINDOW_MS } from "../../src/engine/admission-slots";
import { call, post } from "../helpers/http";

const PIPELINE = "test-admission";
const WAIT = { timeout: 5000, interval: 50 };

const shardOf = (pipeline: string) => env.ADMISSION.get(env.ADMISSION.idFromName(`${pipeline}#0`));
const jobOf = async (id: string) => (await (await call(`/pipelines/${PIPELINE}/jobs/${id}`)).json()) as { status: string; result: unknown };
const submit = async (ms: number) => {
  const res = await post(`/pipelines/${PIPELINE}/invoke?mode=async`, { parameters: { ms } });
  if (res.status !== 200) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { job_id: string }).job_id;
};
const syncRun = (ms: number) => post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms });

/** What the shard holds: its failed promotions, its queue, the slots it counts in use, its alarm. */
function shardState(pipeline = PIPELINE) {
  return runInDurableObject(shardOf(pipeline), async (instance, state) => ({
    failures: instance.promotionFailures,
    waiting: state.storage.sql.exec<{ run_id: string; retry_at: number }>("SELECT run_id, retry_at FROM waiting").toArray(),
    inUse: state.storage.sql.exec<{ n: number }>("SELECT COALESCE(SUM(granted - released), 0) AS n FROM blocks").one().n,
    alarm: await state.storage.getAlarm(),
  }));
}

/** Blocks the shard counts (leased and not all given back). */
function blocksHeld(pipeline: string): Promise<number> {
  return runInDurableObject(shardOf(pipeline), (_object, state) => state.storage.sql.exec("SELECT 1 FROM blocks").toArray().length);
}

/**
 * How much one of the shard's counters grows while `body` runs, read on one instance (a new one
 * would have started its count again).
 */
async function shardCountGrowth(pipeline: string, count: (shard: AdmissionObject) => number, body: () => Promise<void>): Promise<number> {
  const shard = shardOf(pipeline);
  let instance: object | undefined;
  const before = await runInDurableObject(shard, (object) => {
    instance = object;
    return count(object);
  });
  await body();
  const after = await runInDurableObject(shard, (object) => ({ count: count(object), same: object === instance }));
  expect(after.same).toBe(true);
  return after.count - before;
}

function injectFault(runId: string, fault: PromotionFault): Promise<void> {
  return runInDurableObject(shardOf(PIPELINE), (instance) => {
    instance.promotionFaults.set(runId, fault);
  });
}

async function slotIsFree(): Promise<void> {
  await vi.waitUntil(async () => (await syncRun(1)).status === 200, WAIT);
}

/**
 * One run holds the slot and another waits for it, with `fault` armed for the waiting one; returns
 * once the running one has ended and the shard's promotion of the waiting one has failed.
 */
async function failedPromotion(fault: PromotionFault, queuedMs: number) {
  await slotIsFree();
  const failuresBefore = (await shardState()).failures;
  const running = await submit(300);
  const queued = await submit(queuedMs);
  expect((await jobOf(queued)).status).toBe("pending");
  await injectFault(queued, fault);
  await vi.waitUntil(async () => (await shardState()).failures > failuresBefore, WAIT);
  expect((await jobOf(running)).status).toBe("completed");
  const state = await shardState();
  // The fault happened once, and the run was not dropped: it is still in the shard's queue, due
  // again after the backoff, with the alarm set for it.
  expect(state.failures).toBe(failuresBefore + 1);
  expect(state.waiting).toEqual([{ run_id: queued, retry_at: expect.any(Number) }]);
  expect(state.waiting[0]!.retry_at).toBeGreaterThan(0);
  expect(state.alarm).not.toBeNull();
  expect(state.alarm!).toBeLessThanOrEqual(state.waiting[0]!.retry_at);
  return { queued, failures: state.failures, inUse: state.inUse };
}

describe("admission: a promotion that fails is retried by the shard's alarm", () => {
  it("starts the queued run on the retry when its Run object could not be reached", async () => {
    const { queued, failures, inUse } = await failedPromotion({ at: "unreachable", times: 1 }, 400);
    // The Run object was never reached: the run still waits. The shard keeps its slot for it (no
    // newcomer takes it) and counts no more than the limit.
    expect((await jobOf(queued)).status).toBe("pending");
    expect(inUse).toBe(1);
    expect((await syncRun(1)).status).toBe(429);

    expect(await runDurableObjectAlarm(shardOf(PIPELINE))).toBe(true);
    const after = await shardState();
    expect(after).toMatchObject({ failures, waiting: [], inUse: 1 });
    expect((await jobOf(queued)).status).toBe("running");
    expect((await syncRun(1)).status).toBe(429);

    await vi.waitFor(async () => expect(await jobOf(queued)).toMatchObject({ status: "completed", result: { slept: 400 } }), WAIT);
    await slotIsFree();
    expect((await shardState()).waiting).toEqual([]);
  });

  it("keeps counting the slot of a run that was admitted although the shard saw the call fail", async () => {
    const { queued, failures, inUse } = await failedPromotion({ at: "answer-lost", times: 1 }, 800);
    // The Run object admitted the run; only its answer was lost. The slot it runs on stays counted.
    expect((await jobOf(queued)).status).toBe("running");
    expect(inUse).toBe(1);
    expect((await syncRun(1)).status).toBe(429);

    // The retry offers the same slot, which the Run object recognises as the one it holds.
    expect(await runDurableObjectAlarm(shardOf(PIPELINE))).toBe(true);
    expect(await shardState()).toMatchObject({ failures, waiting: [], inUse: 1, alarm: null });
    // Still one run at most: a newcomer is refused while the queued run runs.
    expect((await jobOf(queued)).status).toBe("running");
    expect((await syncRun(1)).status).toBe(429);

    await vi.waitFor(async () => expect(await jobOf(queued)).toMatchObject({ status: "completed", result: { slept: 800 } }), WAIT);
    await slotIsFree();
  });

  it("retries a promotion that keeps failing until the run's deadline, then drops it and frees the slot", async () => {
    const { queued, failures } = await failedPromotion({ at: "unreachable", times: Number.POSITIVE_INFINITY }, 1);
    // Each alarm tries again and re-arms itself while the run may still start.
    expect(await runDurableObjectAlarm(shardOf(PIPELINE))).toBe(true);
    const retried = await shardState();
    expect(retried).toMatchObject({ failures: failures + 1, waiting: [{ run_id: queued }], inUse: 1 });
    expect(retried.alarm).not.toBeNull();

    // Past the run's deadline (its lease, shortened here rather than waited for) the shard gives up:
    // the Run object has timed the run out by then, so there is nothing left to start.
    await runInDurableObject(shardOf(PIPELINE), (_instance, state) => {
      state.storage.sql.exec("UPDATE waiting SET lease_ms = 0 WHERE run_id = ?", queued);
    });
    expect(await runDurableObjectAlarm(shardOf(PIPELINE))).toBe(true);
    expect(await shardState()).toMatchObject({ failures: failures + 1, waiting: [], inUse: 0, alarm: null });
    expect((await syncRun(1)).status).toBe(200);

    // (Its Run object would time it out; cancelling it now sends a withdrawal the shard ignores.)
    expect((await call(`/pipelines/${PIPELINE}/jobs/${queued}/cancel`, { method: "POST" })).status).toBe(200);
    await slotIsFree();
  });
});

describe("admission: what the shard writes", () => {
  it("costs a shard far less than one SQLite row per sync run with the default limits", async () => {
    const runs = 40;
    let ranMs = 0;
    const rows = await shardCountGrowth(
      "word-stats",
      (shard) => shard.rowsWritten,
      async () => {
        const started = Date.now();
        for (let i = 0; i < runs; i++) {
          const res = await post("/v1/process/sync", { text: `Run ${i} of the admission row count. The end` });
          expect(res.status).toBe(200);
        }
        ranMs = Date.now() - started;
        // The block's unused slots go back to the shard when its window ends: count that too.
        await vi.waitUntil(async () => (await blocksHeld("word-stats")) === 0, { timeout: 10_000, interval: 100 });
      },
    );
    console.log(`admission shard rows written: ${rows} for ${runs} sync runs over ${ranMs} ms, unused slots given back (${(rows / runs).toFixed(3)} per run)`);
    // At least the block was written (so the count counts), and far fewer than one row a run.
    expect(rows).toBeGreaterThan(0);
    expect(rows / runs).toBeLessThan(1);
  });

  it("leases a block per block its runs in flight need, not every few runs, when more are in flight than a block holds", async () => {
    // `test-admission-wide`: a limit of 8 on one shard, so blocks of 2; six runs at a time need three.
    let windows = 0;
    const leases = await shardCountGrowth(
      "test-admission-wide",
      (shard) => shard.leasesAnswered,
      async () => {
        const started = Date.now();
        for (let wave = 0; wave < 10; wave++) {
          const statuses = await Promise.all(
            Array.from({ length: 6 }, () => post("/pipelines/test-admission-wide/v1/process/sync", { ms: 20 }).then((r) => r.status)),
          );
          expect(statuses).toEqual(Array(6).fill(200));
        }
        windows = Math.ceil((Date.now() - started) / BLOCK_WINDOW_MS) + 1;
      },
    );
    // Three blocks a window at most (one block held at a time leased two or three a wave: 20 or more).
    expect(leases).toBeGreaterThan(0);
    expect(leases).toBeLessThanOrEqual(3 * windows);
  });

  it("gives every block's unused slots back when its own window ends, with no request after it", async () => {
    const flushed = { timeout: 10_000, interval: 50 };
    await vi.waitUntil(async () => (await blocksHeld("test-admission-wide")) === 0, flushed);
    // One run leases a block of 2; three at once a run later need a second block, leased after it.
    expect((await post("/pipelines/test-admission-wide/v1/process/sync", { ms: 20 })).status).toBe(200);
    const statuses = await Promise.all(
      Array.from({ length: 3 }, () => post("/pipelines/test-admission-wide/v1/process/sync", { ms: 20 }).then((r) => r.status)),
    );
    expect(statuses).toEqual([200, 200, 200]);
    expect(await blocksHeld("test-admission-wide")).toBe(2);
    // Both go back, the second at the end of its own window (a shared timer went off before it
    // ended, and left its slots counted until the lease ran out, minutes later).
    await vi.waitUntil(async () => (await blocksHeld("test-admission-wide")) === 0, flushed);
  }, 25_000);
});
