/**
 * What is the journal host's own (every other behaviour is the object host's, and the whole suite
 * runs against both hosts: vitest.config.ts): runs spread over a pipeline's shards by a hash of
 * their id, many runs share a shard and its one alarm, a shard reset re-drives every run it held
 * (each completes once), and a shard refusing a call as overloaded is a 503 with Retry-After that
 * started nothing.
 */
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, it, vi } from "vitest";
import { FIRE_WAIT_MS } from "../../durable-objects/shard/due-times";
import { IDLE_RUNS_IN_MEMORY, type RunShard } from "../../durable-objects/shard/run-shard";
import { shardName } from "../../src/engine/shard-name";
import { storeMessage } from "../../src/pipeline/message";
import type { StartRunRequest } from "../../src/runs/protocol";
import { bodyText, call, post } from "../helpers/http";
import { ended, eventsOf, recordOf, recordWhen, runRunAlarm, runStub } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-journal-sleep";
const SHARDS = 2;

/** `count` new ids whose runs land in `shard` of PIPELINE. */
function idsInShard(shard: string, count: number): string[] {
  const ids: string[] = [];
  while (ids.length < count) {
    const id = uniqueId("shared");
    if (shardName(PIPELINE, id, SHARDS) === shard) ids.push(id);
  }
  return ids;
}

/** `count` new ids whose runs land in the same shard of PIPELINE. */
function idsInOneShard(count: number): string[] {
  return idsInShard(shardName(PIPELINE, uniqueId("probe"), SHARDS), count);
}

const sleepRequest = (id: string, ms: number): StartRunRequest => ({
  runId: id,
  pipeline: PIPELINE,
  input: storeMessage({ value: { ms }, tags: [], keys: [] }),
  headers: {},
  surface: "native",
  capture: { fallback: { mode: "full", sampleRate: 0.1, maxBytes: 262_144, redact: [] }, runtime: "REALTIME", sampleFraction: 1 },
});

describe("the journal host", () => {
  it("spreads runs over the pipeline's shards by their id, and finds each from its id alone", async ({ expect }) => {
    // Four in each shard: eight random ids would all land in one shard once in 128 runs.
    const ids = [...idsInShard(`${PIPELINE}#0`, 4), ...idsInShard(`${PIPELINE}#1`, 4)];
    for (const id of ids) expect(await bodyText(await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id }))).toBe('{"slept":1}');
    expect(new Set(ids.map((id) => shardName(PIPELINE, id, SHARDS))).size).toBe(SHARDS);
    for (const id of ids) expect(await bodyText(await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`))).toBe('{"slept":1}');
    // No Run object was made for them: their rows are in the shard, under each run's prefix.
    const [first] = ids;
    const keys = await runInDurableObject(runStub(PIPELINE, first!), (_, state) => [...state.storage.kv.list()].map(([key]) => key));
    expect(keys.some((key) => key.startsWith(`r:${encodeURIComponent(first!)}/`))).toBe(true);
    expect(keys.some((key) => key.startsWith("due:") && key.endsWith(first!))).toBe(true);
    // And only there: the other shard holds none of its rows.
    const other = ids.find((id) => shardName(PIPELINE, id, SHARDS) !== shardName(PIPELINE, first!, SHARDS));
    const otherKeys = await runInDurableObject(runStub(PIPELINE, other!), (_, state) => [...state.storage.kv.list()].map(([key]) => key));
    expect(otherKeys.some((key) => key.includes(encodeURIComponent(first!)))).toBe(false);
  });

  it("keeps the shard's one alarm no later than its earliest due run, and at it once the alarm has run", async ({ expect }) => {
    const ids = idsInOneShard(3);
    for (const id of ids) await post(`/pipelines/${PIPELINE}/v1/process/async`, { ms: 1 }, { "X-Numaflow-Id": id });
    for (const id of ids) await vi.waitFor(async () => expect((await recordOf(PIPELINE, id)).status).toBe("completed"));
    const shard = () => runStub(PIPELINE, ids[0]!);
    const alarmAndFirstDue = () =>
      runInDurableObject(shard(), async (_, state) => ({
        alarm: await state.storage.getAlarm(),
        first: [...state.storage.kv.list({ prefix: "due:", limit: 1 })].map(([key]) => Number(key.slice(4, 19)))[0],
      }));
    // A run that moved its entry later (its watchdog, then its retention) leaves the alarm earlier:
    // it then fires for nothing and moves to the earliest entry, instead of a write per move.
    const before = await alarmAndFirstDue();
    expect(before.first).toBeGreaterThan(Date.now());
    expect(before.alarm).not.toBeNull();
    expect(before.alarm!).toBeLessThanOrEqual(before.first!);
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    const after = await alarmAndFirstDue();
    expect(after.alarm).toBe(after.first);
    // Nothing was due: every run is still there.
    for (const id of ids) expect((await recordOf(PIPELINE, id)).status).toBe("completed");
  });

  it("does not let one run's stuck alarm hold back the others' in its shard, and handles it once when it is done", async ({ expect }) => {
    const [stuck, other, later] = idsInOneShard(3);
    for (const id of [stuck!, other!, later!]) await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id });
    const shard = () => runStub(PIPELINE, stuck!);
    const retentionOf = await runInDurableObject(shard(), (s: RunShard) => ({
      stuck: s.runAlarmAt(stuck!),
      other: s.runAlarmAt(other!),
      later: s.runAlarmAt(later!),
    }));
    const whileStuck = () =>
      runInDurableObject(shard(), async (s: RunShard, state) => ({
        other: s.runAlarmAt(other!),
        later: s.runAlarmAt(later!),
        stuck: s.runAlarmAt(stuck!),
        started: s.hostedRun(stuck!).alarmsStarted,
        alarm: await state.storage.getAlarm(),
        // The first entry of a run not being handled, whichever run of the shard it is.
        firstNotStuck: [...state.storage.kv.list({ prefix: "due:" })].map(([key]) => key).find((key) => !key.endsWith(`:${stuck!}`)),
        firstEntry: [...state.storage.kv.list({ prefix: "due:", limit: 1 })].map(([key]) => key)[0],
      }));
    const timeOf = (key: string | undefined) => Number(key?.slice(4, 19));
    const handled = { timeout: 5000, interval: 20 };
    let release: () => void = () => undefined;
    await runInDurableObject(shard(), (s: RunShard) => {
      // The stuck run's handler waits as one stuck on R2 or KV would. Both runs are due now, so the
      // shard's own alarm fires for them.
      s.hostedRun(stuck!).faults.holdAlarm = new Promise<void>((resolve) => {
        release = resolve;
      });
      s.setRunAlarm(stuck!, Date.now());
      s.setRunAlarm(other!, Date.now());
    });
    // The other run is handled: its early time was for nothing, so its entry is back at its
    // retention time. The stuck one's entry stays, its handler started once.
    await vi.waitFor(async () => expect((await whileStuck()).other).toBe(retentionOf.other), handled);
    // A run whose time comes while the stuck handler still runs is handled too: the firing did not
    // wait for it (before, it never returned, and no other firing came).
    await runInDurableObject(shard(), (s: RunShard) => s.setRunAlarm(later!, Date.now()));
    await vi.waitFor(async () => expect((await whileStuck()).later).toBe(retentionOf.later), handled);
    const meanwhile = await whileStuck();
    expect(meanwhile.stuck).toBeLessThanOrEqual(Date.now());
    expect(meanwhile.started).toBe(1);
    // The alarm is at the next run not being handled, not back at the stuck one's due entry.
    expect(meanwhile.firstEntry).toContain(stuck!);
    expect(meanwhile.alarm).toBe(timeOf(meanwhile.firstNotStuck));
    // Another firing meanwhile leaves the stuck run alone: never two handlers of one run at once.
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    expect((await whileStuck()).started).toBe(1);
    // Released inside the shard, which made the promise: the run is handled, once, and the alarm
    // is at the first entry again.
    await runInDurableObject(shard(), () => release());
    await vi.waitFor(async () => expect((await whileStuck()).stuck).toBe(retentionOf.stuck), handled);
    const done = await whileStuck();
    expect(done.started).toBe(1);
    expect(done.alarm).toBe(timeOf(done.firstEntry));
    for (const id of [stuck!, other!, later!]) expect((await recordOf(PIPELINE, id)).status).toBe("completed");
  });

  it("waits a while, instead of firing again at once, while every handler it may run is still running", async ({ expect }) => {
    const [stuck, other] = idsInOneShard(2);
    for (const id of [stuck!, other!]) await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id });
    const shard = () => runStub(PIPELINE, stuck!);
    const retentionOfOther = await runInDurableObject(shard(), (s: RunShard) => s.runAlarmAt(other!));
    const state = () =>
      runInDurableObject(shard(), async (s: RunShard, storage) => ({
        started: s.hostedRun(stuck!).alarmsStarted,
        other: s.runAlarmAt(other!),
        alarm: await storage.storage.getAlarm(),
      }));
    let release: () => void = () => undefined;
    await runInDurableObject(shard(), (s: RunShard) => {
      // One handler at a time (200 in production), and that one is stuck: nothing else can start.
      s.limitAlarmHandlers(1);
      s.hostedRun(stuck!).faults.holdAlarm = new Promise<void>((resolve) => {
        release = resolve;
      });
      s.setRunAlarm(stuck!, Date.now());
    });
    await vi.waitFor(async () => expect((await state()).started).toBe(1), { timeout: 5000, interval: 20 });
    await runInDurableObject(shard(), (s: RunShard) => s.setRunAlarm(other!, Date.now()));
    // The other run is due and waits for room. Once the firing stops waiting, the alarm is set a
    // while ahead (FIRE_WAIT_MS), not at the past due time, which would fire at once, start nothing
    // and arm itself again, over and over (a few milliseconds ahead at most).
    await vi.waitFor(
      async () => {
        const now = Date.now();
        const { alarm, other: due } = await state();
        expect(due).toBeLessThanOrEqual(now);
        expect(alarm! - now).toBeGreaterThan(FIRE_WAIT_MS / 2);
      },
      { timeout: 5000, interval: 20 },
    );
    // Room again: the other run is handled (its entry back at its retention time).
    await runInDurableObject(shard(), () => release());
    await vi.waitFor(async () => expect((await state()).other).toBe(retentionOfOther), { timeout: 5000, interval: 20 });
    expect((await state()).started).toBe(1);
  });

  it("restarts a shard whose alarm handler has run too long, and handles that run again", async ({ expect }) => {
    const [stuck] = idsInOneShard(1);
    await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": stuck! });
    const shard = () => runStub(PIPELINE, stuck!);
    const retention = await runInDurableObject(shard(), (s: RunShard) => s.runAlarmAt(stuck!));
    await runInDurableObject(shard(), (s: RunShard) => {
      // Its handler never returns; 15 minutes is the limit in production, 300 ms here.
      s.limitAlarmHandlerTime(300);
      s.hostedRun(stuck!).faults.holdAlarm = new Promise<void>(() => undefined);
      s.setRunAlarm(stuck!, Date.now());
    });
    // Past the limit the shard restarts; its next instance (without the fault) handles the run's
    // entry again: early, so for nothing, and the entry is back at its retention time.
    await vi.waitFor(async () => expect(await runInDurableObject(shard(), (s: RunShard) => s.runAlarmAt(stuck!))).toBe(retention), {
      timeout: 12_000,
      interval: 50,
    });
    expect((await recordOf(PIPELINE, stuck!)).status).toBe("completed");
  }, 15_000);

  it("re-drives every run a shard reset interrupted: all complete, each once", async ({ expect }) => {
    const ids = idsInOneShard(5);
    for (const id of ids) expect(await runStub(PIPELINE, id).start(id, sleepRequest(id, 300))).toEqual({ started: true });
    // Every run's step is in flight when the shard is reset (its timers die with it).
    await abortAllDurableObjects();
    // The shard's alarm (its earliest watchdog entry) wakes it and re-drives each run from storage.
    for (const id of ids) {
      await vi.waitFor(async () => expect((await recordOf(PIPELINE, id)).status).toBe("completed"), { timeout: 8000, interval: 50 });
    }
    for (const id of ids) {
      const events = await eventsOf(PIPELINE, id);
      expect(events.filter((e) => e.type === "run_completed")).toHaveLength(1);
      expect(events.filter((e) => e.type === "step_started").map((e) => e.data?.attempt)).toEqual([1, 2]);
      expect(await bodyText(await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`))).toBe('{"slept":300}');
    }
  });

  it("lets go of the least recently used idle runs past its memory bound, and loads them again when asked", async ({ expect }) => {
    const [kept, ...others] = idsInOneShard(3);
    for (const id of [kept!, ...others]) await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id });
    const runs = [kept!, ...others];
    const { inMemory, dueTimesBefore, dueTimesAfter, entriesAfter } = await runInDurableObject(runStub(PIPELINE, kept!), (shard: RunShard) => {
      // Each finished run has its retention time in the shard's due table.
      const dueTimesBefore = runs.map((id) => shard.knowsDueTimeOf(id));
      // Asking about more ids than the bound (none of them has a run) pushes the finished runs out.
      for (let i = 0; i <= IDLE_RUNS_IN_MEMORY; i++) void shard.hostedRun(`idle-${i}`).probe();
      return {
        inMemory: shard.runsInMemory,
        dueTimesBefore,
        dueTimesAfter: runs.map((id) => shard.knowsDueTimeOf(id)),
        entriesAfter: runs.map((id) => shard.runAlarmAt(id) !== undefined),
      };
    });
    expect(inMemory).toBe(IDLE_RUNS_IN_MEMORY);
    expect(dueTimesBefore).toEqual([true, true, true]);
    // Nothing of a run let go stays in memory, its due time included; its entry stays and fires.
    expect(dueTimesAfter).toEqual([false, false, false]);
    expect(entriesAfter).toEqual([true, true, true]);
    // Let go of, not lost: each is read back from the shard's storage.
    for (const id of [kept!, ...others]) expect(await bodyText(await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`))).toBe('{"slept":1}');
  });

  it("keeps a finished run in memory while its background work goes on, and lets go of it once that is done", async ({ expect }) => {
    const [id] = idsInOneShard(1);
    let release: () => void = () => undefined;
    await runInDurableObject(runStub(PIPELINE, id!), (shard: RunShard) => {
      shard.hostedRun(id!).faults.holdIndexSends = new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    expect(await bodyText(await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id! }))).toBe('{"slept":1}');
    let others = 0;
    /** Asks about more new ids than the memory bound, then says whether the run is still held. */
    const pushOut = () =>
      runInDurableObject(runStub(PIPELINE, id!), (shard: RunShard) => {
        for (let i = 0; i <= IDLE_RUNS_IN_MEMORY; i++) void shard.hostedRun(`pushing-${others++}`).probe();
        return shard.holdsInMemory(id!);
      });
    // Its run-events message (index row, slot) is still being sent: a second instance of the run
    // loaded meanwhile would not know what that send writes back.
    expect(await pushOut()).toBe(true);
    // Released inside the shard, which made the promise (I/O of one object is not another's).
    await runInDurableObject(runStub(PIPELINE, id!), () => release());
    await vi.waitFor(async () => expect(await pushOut()).toBe(false), { timeout: 5000, interval: 20 });
  });

  it("answers 503 run_host_overloaded with Retry-After when the shard refuses a start, which started nothing", async ({ expect }) => {
    const id = uniqueId("overloaded");
    await runInDurableObject(runStub(PIPELINE, id), (shard: RunShard) => {
      shard.faults.overloadedCalls = 1;
    });
    const refused = await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as { error_code: string }).error_code).toBe("run_host_overloaded");
    // Nothing was started, so the same id starts when asked again.
    expect((await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`)).status).toBe(404);
    expect(await bodyText(await post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id }))).toBe('{"slept":1}');
  });

  /** A sync start whose shard resets once the run is stored, and then refuses `overloadedCalls` calls as overloaded. */
  async function cutStartThenOverload(id: string, overloadedCalls: number): Promise<Response> {
    await runInDurableObject(runStub(PIPELINE, id), (shard: RunShard) => {
      shard.hostedRun(id).faults.resetAfterNextStart = true;
      shard.overloadAfterReset(overloadedCalls);
    });
    return post(`/pipelines/${PIPELINE}/v1/process/sync`, { ms: 1 }, { "X-Numaflow-Id": id });
  }

  it("waits out an overloaded shard after a reset cut a sync start that was stored, and answers with the result", async ({ expect }) => {
    const id = uniqueId("cut-overloaded");
    const res = await cutStartThenOverload(id, 2);
    expect(await bodyText(res)).toBe('{"slept":1}');
    expect((await eventsOf(PIPELINE, id)).filter((e) => e.type === "run_started")).toHaveLength(1);
  });

  it("never says nothing was started when a shard stays overloaded after a reset cut a stored start", async ({ expect }) => {
    const id = uniqueId("cut-overloaded-long");
    const res = await cutStartThenOverload(id, 1000);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    const body = (await res.json()) as { error_code: string; message: string };
    expect(body.error_code).toBe("run_host_overloaded");
    expect(body.message).toContain("may have been stored");
    expect(body.message).not.toContain("nothing was started");
    // The run was stored: once the shard takes calls again, its alarm (which the overload put off
    // for 30 s) re-drives it, and it runs once.
    await runInDurableObject(runStub(PIPELINE, id), (shard: RunShard) => {
      shard.faults.overloadedCalls = 0;
    });
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    expect((await recordWhen(PIPELINE, id, ended)).status).toBe("completed");
    expect((await eventsOf(PIPELINE, id)).filter((e) => e.type === "run_started")).toHaveLength(1);
  });
});
