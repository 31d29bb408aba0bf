/**
 * The Run object under faults, with the Vitest integration's tools: evictions before, during and
 * after a step, the alarm watchdog (re-drive, deadline, retention) and storage left by probes.
 * Proves that storage, not memory, is the source of truth. Does not cover queued or remote steps
 * (they arrive with their own suites).
 *
 * An interruption in the middle of a step is made with `abortAllDurableObjects()`, which resets the
 * object the way a crash or a deploy does. `evictDurableObject()` is used before and after steps:
 * in the test runtime an evicted instance's pending timers still fire, so it cannot stand for the
 * loss of an in-flight step (on Cloudflare an object with a pending timer is never hibernated).
 */
import { abortAllDurableObjects, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, it, vi } from "vitest";
import type { WaitOutcome } from "../../src/runs/protocol";
import { storeMessage } from "../../src/pipeline/message";
import { bodyText, call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { uniqueId } from "../helpers/unique";
import { editStoredRun, storedNames } from "../helpers/stored-run";
import { eventsOf, inHostedRun, onJournal, runRunAlarm, runStub } from "../helpers/runs";

const sleepRequest = (id: string, ms: number, runTimeoutSeconds?: number) => ({
  runId: id,
  pipeline: "sleep",
  input: storeMessage({ value: { ms }, tags: [], keys: [] }),
  headers: {},
  surface: "native" as const,
  capture: {
    fallback: { mode: "full" as const, sampleRate: 0.1, maxBytes: 262_144, redact: ["password"] },
    runtime: "REALTIME" as const,
    sampleFraction: 1,
  },
  ...(runTimeoutSeconds ? { runTimeoutSeconds } : {}),
});

describe("eviction", () => {
  it("re-drives an inline step that a reset interrupted, when the alarm runs", async ({ expect }) => {
    const id = uniqueId("reset-during");
    const stub = runStub("sleep", id);
    expect(await stub.start(id, sleepRequest(id, 300))).toEqual({ started: true });
    await abortAllDurableObjects();
    // The step's timer died with the instance: the run is still running after a longer step,
    // started after the reset, has finished (by then a surviving 300 ms timer would have fired).
    // (A stub that saw its object reset stays broken, so each call after a reset takes a new one.)
    const control = await post("/pipelines/sleep/v1/process/sync", { ms: 400 });
    expect(await bodyText(control)).toBe('{"slept":400}');
    expect(await runStub("sleep", id).describe(id)).toMatchObject({ found: true, snapshot: { status: "running" } });

    expect(await runRunAlarm("sleep", id)).toBe(true);
    await vi.waitFor(
      async () => {
        const res = await call(`/pipelines/sleep/v1/process/fetch?id=${id}`);
        expect(await bodyText(res)).toBe('{"slept":300}');
      },
      { timeout: 3000, interval: 50 },
    );
    const events = await eventsOf("sleep", id);
    expect(events.filter((e) => e.type === "step_started").map((e) => e.data?.attempt)).toEqual([1, 2]);
    // The lost attempt is on record, and the step's status follows its last attempt.
    const interrupted = events.filter((e) => e.type === "step_interrupted");
    expect(interrupted).toMatchObject([{ step: "sleep", data: { attempt: 1 } }]);
    const described = await runStub("sleep", id).describe(id);
    expect(described).toMatchObject({
      found: true,
      snapshot: { status: "completed", steps: { sleep: { status: "completed", started: 2, completed: 1, interrupted: 1 } } },
    });
  });

  it("keeps a finished run's result and whole stream across an eviction", async ({ expect }) => {
    const id = uniqueId("evict-after");
    await post("/pipelines/sentences/v1/process/sync", { text: "One. Two." }, { "X-Numaflow-Id": id });
    await evictDurableObject(runStub("sentences", id));
    const res = await call(`/pipelines/sentences/v1/process/fetch?id=${id}`);
    expect(res.headers.get("numaflow-array-len")).toBe("2");
    const stream = await readSse(await call(`/pipelines/sentences/v1/process/sse?id=${id}`));
    expect(stream.events).toHaveLength(2);
  });

  it("starts normally on an object evicted before the run began", async ({ expect }) => {
    const id = uniqueId("evict-before");
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(404);
    await evictDurableObject(runStub("word-stats", id));
    const res = await post("/v1/process/sync", { text: "fresh" }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
  });

  it("fails a step interrupted too many times instead of re-driving it forever", async ({ expect }) => {
    const id = uniqueId("reset-loop");
    const stub = runStub("sleep", id);
    await stub.start(id, sleepRequest(id, 30_000));
    for (let i = 0; i < 3; i++) {
      await abortAllDurableObjects();
      await runRunAlarm("sleep", id);
    }
    const outcome = await runStub("sleep", id).describe(id);
    expect(outcome).toMatchObject({
      found: true,
      snapshot: { status: "failed", error: { code: "run_failed", message: "step 'sleep' was interrupted 3 times and did not finish" } },
    });
  });
});

describe("alarm watchdog", () => {
  it("fails a run that passes its deadline with run_timeout", async ({ expect }) => {
    const id = uniqueId("deadline");
    const stub = runStub("sleep", id);
    await stub.start(id, sleepRequest(id, 30_000, 1));
    expect(await stub.describe(id)).toMatchObject({ snapshot: { status: "running" } });
    // Time has to pass for the 1 s deadline under test: nothing else ends this run (its step
    // sleeps 30 s), so the failure below can only come from the deadline having passed.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await runDurableObjectAlarm(stub);
    const outcome = await stub.describe(id);
    expect(outcome).toMatchObject({ snapshot: { status: "failed", error: { code: "run_timeout" } } });
    const last = (await eventsOf("sleep", id)).at(-1);
    expect(last?.type).toBe("run_failed");
  });

  it("keeps a finished run until its retention expires, and re-arms the alarm", async ({ expect }) => {
    const id = uniqueId("retained");
    await post("/v1/process/sync", { text: "keep" }, { "X-Numaflow-Id": id });
    const stub = runStub("word-stats", id);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(200);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
  });

  // The object host's own alarm; a journal shard's due entries commit with the run (due-times.ts).
  it.skipIf(onJournal)("re-arms a lost retention alarm when a new instance loads the finished run", async ({ expect }) => {
    const id = uniqueId("rearm");
    await post("/v1/process/sync", { text: "keep" }, { "X-Numaflow-Id": id });
    const stub = runStub("word-stats", id);
    await runInDurableObject(stub, (_instance, state) => state.storage.deleteAlarm());
    await evictDurableObject(stub);
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(200);
    await vi.waitFor(async () => {
      const alarm = await runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
      expect(alarm).not.toBeNull();
    });
  });

  it("deletes everything once retention expires, and the id can be used again", async ({ expect }) => {
    const id = uniqueId("expired");
    await post("/v1/process/sync", { text: "old" }, { "X-Numaflow-Id": id });
    const stub = runStub("word-stats", id);
    await inHostedRun("word-stats", id, (run) => {
      editStoredRun(run.store, (row) => (row.expiresAt = 1));
    });
    await evictDurableObject(stub);
    expect(await runRunAlarm("word-stats", id)).toBe(true);
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(404);
    // Only the tombstone is left, so fetch can say the run expired.
    expect(await inHostedRun("word-stats", id, (run, state) => storedNames(run.store, state))).toEqual({ tables: [], entries: ["expired"] });
    const reused = await post("/v1/process/sync", { text: "new" }, { "X-Numaflow-Id": id });
    expect(await bodyText(reused)).toBe('{"words":1,"unique":1,"top":[["new",1]]}');
  });
});

describe("storage", () => {
  it("leaves no storage behind when a request probes an unknown id", async ({ expect }) => {
    const id = uniqueId("probe");
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(404);
    const stored = await inHostedRun("word-stats", id, (run, state) => ({
      schema: state.storage.sql.exec("SELECT name FROM sqlite_master").toArray(),
      entries: run.store.list(""),
    }));
    expect(stored.entries).toEqual([]);
    // A Run object is not even given its tables (a journal shard holds other runs' rows).
    if (!onJournal) expect(stored.schema).toEqual([]);
  });

  it("reports the SQLite rows a run wrote", async ({ expect }) => {
    const id = uniqueId("rows");
    await post("/v1/process/sync", { text: "count my rows" }, { "X-Numaflow-Id": id });
    const outcome = (await runStub("word-stats", id).describe(id)) as WaitOutcome;
    if (!outcome.found) throw new Error("the run was not found");
    // Three CREATE TABLEs, the run row, one event row and one result row (DDL writes count too).
    expect(outcome.snapshot.rowsWritten).toBeGreaterThan(0);
    expect(outcome.snapshot.rowsWritten).toBeLessThanOrEqual(9);
  });
});
