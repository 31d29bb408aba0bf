/**
 * The orchestrator on its own, over a Run object's real SQLite, with its clock, senders, alarm and
 * `onTerminal` recorded (see ./orchestrator-harness.ts): inline runs in one burst, failures,
 * cancellation, queued steps (sent once persisted, claims and reports, the watchdog's resends),
 * the run deadline, and remote steps (their invocations and reports).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { describe, it } from "vitest";
import { MAX_INLINE_ATTEMPTS, MAX_STAGE_SENDS, QUEUED_STEP_MAX_SECONDS } from "../../durable-objects/run/orchestrator";
import { loadMessage } from "../../src/pipeline/message";
import type { RemoteStepDefinition } from "../../src/pipeline/definition";
import { buildInvocation } from "../../src/remote/invocation";
import { TypedValueSchema } from "../../src/remote/proto/io/statefun/request_reply_pb";
import { decodeTypedValue, STATEFUN_TYPES } from "../../src/remote/typed-value";
import { message, RETENTION_MS, RUN_TIMEOUT_MS, settle, STAGE_LEASE_MS, WATCHDOG_MS, withRun, type Harness } from "./orchestrator-harness";

const begin = (h: Harness, value: Parameters<typeof message>[0]) => h.orchestrator.begin(loadMessage(message(value)));
const types = (h: Harness) => h.published.map((e) => (e.step ? `${e.type}:${e.step}` : e.type));

describe("inline steps", () => {
  it("runs an all-inline run to its end in one burst, with its results and events", async ({ expect }) => {
    await withRun({ pipeline: "word-stats" }, (h) => {
      begin(h, { text: "to be or not to be" });

      expect(h.record.row.status).toBe("completed");
      expect(h.bursts).toBe(1);
      expect(h.resultValues()).toEqual([
        {
          words: 6,
          unique: 4,
          top: [
            ["be", 2],
            ["to", 2],
            ["not", 1],
            ["or", 1],
          ],
        },
      ]);
      expect(types(h)).toEqual([
        "run_started",
        "step_started:normalise",
        "step_completed:normalise",
        "step_started:count",
        "step_completed:count",
        "step_started:summarise",
        "step_completed:summarise",
        "result:out",
        "run_completed",
      ]);
      expect(h.published.at(-1)?.data).toEqual({ results: 1, steps_executed: 3 });
      expect(h.published.find((e) => e.type === "step_started")?.data).toEqual({ key: `${h.runId}/normalise/0`, attempt: 1 });
      expect(h.record.row.steps.count).toMatchObject({ status: "completed", started: 1, completed: 1, failed: 0 });
      expect(h.record.row.steps.out).toMatchObject({ status: "completed", started: 1, completed: 1 });

      // All persisted in that burst; onTerminal once, after it.
      expect(h.storedEvents()).toEqual(h.published);
      expect(h.stored().row).toMatchObject({ status: "completed", resultCount: 1, finishedAt: h.clock.t, expiresAt: h.clock.t + RETENTION_MS });
      expect(h.stored().work.size).toBe(0);
      expect(h.terminalCalls).toEqual(["completed"]);
      // The retention alarm replaces the watchdog's.
      expect(h.alarms.at(-1)).toBe(h.clock.t + RETENTION_MS);
      expect(h.stageSends).toEqual([]);
      expect(h.invocationSends).toEqual([]);
    });
  });

  it("fails the run when an inline step throws", async ({ expect }) => {
    await withRun({ pipeline: "test-failing" }, async (h) => {
      begin(h, { fail: true });
      // `explode` is async: its outcome comes in a later burst.
      expect(h.record.row.status).toBe("running");
      await settle();

      expect(h.record.row.status).toBe("failed");
      expect(h.record.row.error).toEqual({ code: "run_failed", message: "step 'explode' failed: exploded on purpose", step: "explode" });
      expect(h.record.row.steps.explode).toMatchObject({ status: "failed", started: 1, failed: 1 });
      expect(types(h).slice(-2)).toEqual(["step_failed:explode", "run_failed"]);
      expect(h.published.find((e) => e.type === "step_failed")?.data).toMatchObject({ error: "exploded on purpose", input: { fail: true } });
      expect(h.stored().row.status).toBe("failed");
      expect(h.terminalCalls).toEqual(["failed"]);
    });
  });

  it("ends the run on cancel; a step that finishes afterwards changes nothing", async ({ expect }) => {
    await withRun({ pipeline: "test-failing" }, async (h) => {
      begin(h, { fail: false, waitMs: 50 });
      expect(h.record.row.steps.explode?.status).toBe("running");

      expect(h.orchestrator.cancel("stopped by the test")).toBe(true);
      expect(h.record.row).toMatchObject({ status: "cancelled", error: { code: "run_cancelled", message: "stopped by the test" } });
      expect(h.record.work.size).toBe(0);
      // The step it cut short is not left running in the ended run's record.
      expect(h.record.row.steps.explode?.status).toBe("stopped");
      expect(h.stored().row.steps.explode?.status).toBe("stopped");
      const eventsAtCancel = h.published.length;

      await settle(120);
      expect(h.published.length).toBe(eventsAtCancel);
      expect(h.record.row.steps.explode).toMatchObject({ completed: 0 });
      expect(h.resultValues()).toEqual([]);
      expect(h.orchestrator.cancel("again")).toBe(false);
      expect(h.stored().row.status).toBe("cancelled");
      expect(h.terminalCalls).toEqual(["cancelled"]);
    });
  });

  it("re-runs an inline step lost to an eviction, and fails the run when it was lost too often", async ({ expect }) => {
    const lost = (h: Harness, attempt: number) => {
      const key = `${h.runId}/normalise/0`;
      h.record.row.nextMessage = 1;
      h.record.work.set(key, {
        key,
        step: "normalise",
        from: null,
        message: message({ text: "a b a" }),
        attempt,
        state: "running",
        leaseUntil: null,
        sends: 0,
        token: null,
      });
    };
    await withRun({ pipeline: "word-stats" }, (h) => {
      lost(h, 1);
      h.orchestrator.watchdog();
      expect(h.record.row.status).toBe("completed");
      expect(h.published.find((e) => e.type === "step_started")?.data).toEqual({ key: `${h.runId}/normalise/0`, attempt: 2 });
      expect(h.resultValues()).toEqual([
        {
          words: 3,
          unique: 2,
          top: [
            ["a", 2],
            ["b", 1],
          ],
        },
      ]);
    });
    await withRun({ pipeline: "word-stats" }, (h) => {
      lost(h, MAX_INLINE_ATTEMPTS);
      h.orchestrator.watchdog();
      expect(h.record.row.error).toEqual({
        code: "run_failed",
        message: `step 'normalise' was interrupted ${MAX_INLINE_ATTEMPTS} times and did not finish`,
        step: "normalise",
      });
      expect(h.terminalCalls).toEqual(["failed"]);
    });
  });
});

describe("queued steps", () => {
  it("sends a stage only once the burst that recorded it is persisted; claim and completion move the run on", async ({ expect }) => {
    await withRun({ pipeline: "test-queued" }, (h) => {
      begin(h, { value: 21 });
      const key = `${h.runId}/double/0`;

      expect(h.stageSends).toHaveLength(1);
      const [send] = h.stageSends;
      expect(send!.plans.map((p) => p.message)).toEqual([
        { kind: "stage", runId: h.runId, pipeline: "test-queued", step: "double", key, attempt: 1, payload: { inline: message({ value: 21 }) } },
      ]);
      // Storage already held the item as sent when the stage left.
      expect(send!.stored).toEqual([expect.objectContaining({ key, state: "queued", sends: 1, leaseUntil: h.clock.t + STAGE_LEASE_MS })]);
      expect(types(h)).toEqual(["run_started", "step_queued:double"]);
      expect(h.record.row.steps.double?.status).toBe("queued");
      // The watchdog looks again when the lease passes.
      expect(h.alarms.at(-1)).toBe(h.clock.t + STAGE_LEASE_MS);

      h.clock.t += 10;
      expect(h.orchestrator.claimStage(key)).toEqual({ proceed: true, attempt: 1, headers: { "x-test": "orchestrator" } });
      expect(h.stored().work.get(key)).toMatchObject({ state: "running", attempt: 1, leaseUntil: h.clock.t + QUEUED_STEP_MAX_SECONDS * 1000 + STAGE_LEASE_MS });
      expect(h.record.row.steps.double).toMatchObject({ status: "running", started: 1, firstStartedAt: h.clock.t });

      expect(h.orchestrator.completeStage({ key, attempt: 1, outputs: [message({ doubled: 42 })], ms: 7 })).toEqual({ accepted: true });
      expect(h.record.row.status).toBe("completed");
      expect(h.resultValues()).toEqual([{ label: "done", doubled: 42 }]);
      expect(h.terminalCalls).toEqual(["completed"]);
      expect(h.orchestrator.completeStage({ key, attempt: 1, outputs: [message({ doubled: 42 })], ms: 7 })).toEqual({ accepted: false, reason: "run_ended" });
      expect(h.stageSends).toHaveLength(1);
    });
  });

  it("refuses a duplicate completion as settled while the run goes on", async ({ expect }) => {
    await withRun({ pipeline: "test-queued-fanout" }, (h) => {
      begin(h, { n: 1 });
      const [square, negate] = [`${h.runId}/square/1`, `${h.runId}/negate/2`];
      expect(h.stageSends.map((s) => s.plans.map((p) => p.message.key))).toEqual([[square, negate]]);

      expect(h.orchestrator.claimStage(square)).toMatchObject({ proceed: true, attempt: 1 });
      expect(h.orchestrator.completeStage({ key: square, attempt: 1, outputs: [message(1)], ms: 1 })).toEqual({ accepted: true });
      expect(h.orchestrator.completeStage({ key: square, attempt: 1, outputs: [message(1)], ms: 1 })).toEqual({ accepted: false, reason: "settled" });
      expect(h.orchestrator.claimStage(square)).toEqual({ proceed: false, reason: "settled" });
      expect(h.record.row.status).toBe("running");
      expect(h.resultValues()).toEqual([1]);

      expect(h.orchestrator.claimStage(negate)).toMatchObject({ proceed: true });
      expect(h.orchestrator.completeStage({ key: negate, attempt: 1, outputs: [message(-1)], ms: 1 })).toEqual({ accepted: true });
      expect(h.record.row.status).toBe("completed");
      expect(h.resultValues()).toEqual([1, -1]);
      expect(h.terminalCalls).toEqual(["completed"]);
    });
  });

  it("takes retries (refusing a stale attempt's) and fails the run when the step used up its attempts", async ({ expect }) => {
    await withRun({ pipeline: "test-queued" }, (h) => {
      begin(h, { value: 1 });
      const key = `${h.runId}/double/0`;
      h.orchestrator.claimStage(key);

      expect(h.orchestrator.retryStage({ key, attempt: 2, error: "late", delaySeconds: 0, ms: 1 })).toEqual({ accepted: false, reason: "stale" });
      expect(h.orchestrator.retryStage({ key, attempt: 1, error: "oops", delaySeconds: 2, ms: 3 })).toEqual({ accepted: true });
      expect(h.stored().work.get(key)).toMatchObject({ state: "queued", leaseUntil: h.clock.t + 2000 + STAGE_LEASE_MS });
      expect(h.record.row.steps.double).toMatchObject({ status: "queued", retried: 1 });
      expect(h.published.at(-1)).toMatchObject({ type: "step_retrying", step: "double", data: { key, attempt: 1, error: "oops", delay_s: 2, ms: 3 } });

      expect(h.orchestrator.claimStage(key)).toMatchObject({ proceed: true, attempt: 2 });
      expect(h.orchestrator.failStage({ key, attempts: 3, error: "boom" })).toEqual({ accepted: true });
      expect(h.record.row.error).toEqual({ code: "run_failed", message: "step 'double' failed: boom (after 3 attempts)", step: "double" });
      expect(h.orchestrator.failStage({ key, attempts: 3, error: "boom" })).toEqual({ accepted: false, reason: "run_ended" });
      expect(h.terminalCalls).toEqual(["failed"]);
    });
  });

  it(`sends a stage again when its lease passes, and fails the run after ${MAX_STAGE_SENDS} sends`, async ({ expect }) => {
    await withRun({ pipeline: "test-queued" }, (h) => {
      begin(h, { value: 3 });
      const key = `${h.runId}/double/0`;

      // Before the lease passes the watchdog leaves the item alone.
      h.clock.t += STAGE_LEASE_MS - 1;
      h.orchestrator.watchdog();
      expect(h.stageSends).toHaveLength(1);

      for (let send = 2; send <= MAX_STAGE_SENDS; send++) {
        h.clock.t += STAGE_LEASE_MS;
        h.orchestrator.watchdog();
        expect(h.stageSends).toHaveLength(send);
        expect(h.stageSends.at(-1)!.plans[0]!.message).toMatchObject({ key, attempt: send });
        expect(h.stageSends.at(-1)!.stored[0]).toMatchObject({ state: "queued", sends: send });
      }
      expect(h.record.row.status).toBe("running");

      h.clock.t += STAGE_LEASE_MS;
      h.orchestrator.watchdog();
      expect(h.stageSends).toHaveLength(MAX_STAGE_SENDS);
      expect(h.record.row.error).toEqual({
        code: "run_failed",
        message: `queued step 'double' made no progress: it was sent ${MAX_STAGE_SENDS} times and no consumer finished it`,
        step: "double",
      });
      expect(h.stored().row.status).toBe("failed");
      expect(h.terminalCalls).toEqual(["failed"]);
    });
  });
});

describe("the run deadline", () => {
  it("fails the run with run_timeout when the watchdog finds the deadline passed", async ({ expect }) => {
    await withRun({ pipeline: "test-queued" }, (h) => {
      begin(h, { value: 2 });
      const key = `${h.runId}/double/0`;
      expect(h.orchestrator.claimStage(key)).toMatchObject({ proceed: true });

      h.clock.t = h.record.row.deadlineAt;
      h.orchestrator.watchdog();
      expect(h.record.row.error).toEqual({ code: "run_timeout", message: `run exceeded its timeout of ${RUN_TIMEOUT_MS / 1000} s` });
      expect(h.published.at(-1)).toMatchObject({ type: "run_failed", data: { code: "run_timeout" } });
      expect(h.stored().row).toMatchObject({ status: "failed", expiresAt: h.clock.t + RETENTION_MS });
      expect(h.terminalCalls).toEqual(["failed"]);
      // The claimed step never reported: stopped, not left running.
      expect(h.stored().row.steps.double?.status).toBe("stopped");

      // A consumer that finishes late finds the run over.
      expect(h.orchestrator.completeStage({ key, attempt: 1, outputs: [message({ doubled: 4 })], ms: 1 })).toEqual({ accepted: false, reason: "run_ended" });
      h.orchestrator.watchdog();
      expect(h.terminalCalls).toEqual(["failed"]);
      expect(h.resultValues()).toEqual([]);
    });
  });

  it("arms the watchdog no later than the deadline and within its period while an inline step runs", async ({ expect }) => {
    await withRun({ pipeline: "test-failing" }, async (h) => {
      begin(h, { fail: false, waitMs: 20 });
      expect(h.alarms.at(-1)).toBe(h.clock.t + WATCHDOG_MS);
      await settle(60);
      expect(h.record.row.status).toBe("completed");
    });
  });
});

describe("remote steps", () => {
  const env = { EDGESERVE_FUNCTIONS_URL: "http://functions.test:9000" };

  it("hands each invocation to its function address once persisted, and routes the reported outputs", async ({ expect }) => {
    await withRun({ pipeline: "test-remote-counter", env }, (h) => {
      begin(h, { key: "k1", n: 2 });
      const keys = [`${h.runId}/count/1`, `${h.runId}/count/2`];

      expect(h.invocationSends).toHaveLength(1);
      const [{ invocations, stored }] = h.invocationSends as [Harness["invocationSends"][number]];
      expect(invocations.map((i) => i.key)).toEqual(keys);
      expect(invocations[0]).toMatchObject({
        address: { namespace: "test", type: "counter", id: "k1" },
        runId: h.runId,
        pipeline: "test-remote-counter",
        step: "count",
        call: { url: "http://functions.test:9000/counter", timeouts: { call: 60_000 }, output: "json" },
      });
      const argument = fromBinary(TypedValueSchema, invocations[1]!.argument);
      expect(argument.typename).toBe(STATEFUN_TYPES.string);
      expect(decodeTypedValue(argument, "auto")).toBe("m1");
      expect(stored).toEqual(keys.map((key) => expect.objectContaining({ key, state: "queued", sends: 1, leaseUntil: h.clock.t + 60_000 + STAGE_LEASE_MS })));
      expect(h.published.filter((e) => e.type === "step_started" && e.step === "count").map((e) => e.data)).toEqual([
        { key: keys[0], attempt: 1, address: "test/counter/k1" },
        { key: keys[1], attempt: 1, address: "test/counter/k1" },
      ]);

      const report = (key: string, count: number) => ({
        ok: true as const,
        keys: [key],
        caller: "test/counter/k1",
        outputs: [message({ count })],
        messages: [],
        ms: 2,
      });
      expect(h.orchestrator.completeRemote(report(keys[0]!, 1))).toEqual({ accepted: true });
      expect(h.orchestrator.completeRemote(report(keys[0]!, 1))).toEqual({ accepted: false, reason: "settled" });
      expect(h.record.row.status).toBe("running");
      expect(h.orchestrator.completeRemote(report(keys[1]!, 2))).toEqual({ accepted: true });

      expect(h.record.row.status).toBe("completed");
      expect(h.resultValues()).toEqual([{ count: 1 }, { count: 2 }]);
      expect(h.published.filter((e) => e.type === "step_completed" && e.step === "count").map((e) => e.data)).toEqual([
        expect.objectContaining({ key: keys[0], outputs: 1, batch: 1 }),
        expect.objectContaining({ key: keys[1], outputs: 1, batch: 1 }),
      ]);
      expect(h.terminalCalls).toEqual(["completed"]);
      expect(h.orchestrator.completeRemote(report(keys[1]!, 2))).toEqual({ accepted: false, reason: "run_ended" });
      // A run that completed has nothing waiting at any address: no one is told.
      expect(h.endNotices).toEqual([]);
    });
  });

  it("carries the run's deadline with each invocation, and tells the addresses it handed work to when it ends", async ({ expect }) => {
    await withRun({ pipeline: "test-remote-counter", env }, async (h) => {
      begin(h, { key: "k3", n: 2 });
      const invocations = h.invocationSends.flatMap((s) => s.invocations);
      expect(invocations.map((i) => i.deadlineAt)).toEqual([h.record.row.deadlineAt, h.record.row.deadlineAt]);
      expect(h.orchestrator.cancel("enough")).toBe(true);
      expect(h.stored().row.endNotices).toEqual(["test/counter/k3"]);
      expect(h.endNotices).toEqual([{ addresses: ["test/counter/k3"], notice: { runId: h.runId, deadlineAt: h.record.row.deadlineAt } }]);
      await settle();
      // Told: the list is cleared from the run's storage.
      expect(h.stored().row.endNotices).toBeUndefined();
    });
  });

  it("routes a function's message to the remote step that calls its function, from its caller", async ({ expect }) => {
    await withRun({ pipeline: "test-remote-delayed", env }, (h) => {
      begin(h, { id: "x1" });
      const delay = `${h.runId}/delay/1`;
      expect(h.invocationSends.flatMap((s) => s.invocations.map((i) => i.key))).toEqual([delay]);

      const accepted = h.orchestrator.completeRemote({
        ok: true,
        keys: [delay],
        caller: "test/delayer/x1",
        outputs: [],
        messages: [{ function: "test/echo", id: "x1", message: message("hello", ["x1"]) }],
        ms: 1,
      });
      expect(accepted).toEqual({ accepted: true });
      const echo = h.invocationSends.at(-1)!.invocations;
      expect(echo).toEqual([
        expect.objectContaining({ key: `${h.runId}/echo/2`, address: { namespace: "test", type: "echo", id: "x1" }, caller: "test/delayer/x1", step: "echo" }),
      ]);
      h.orchestrator.completeRemote({ ok: true, keys: [`${h.runId}/echo/2`], caller: "test/echo/x1", outputs: [message("hello")], messages: [], ms: 1 });
      expect(h.record.row.status).toBe("completed");
      expect(h.resultValues()).toEqual(["hello"]);
    });
  });

  it("fails the run on a failure report, and when the argument cannot be encoded", async ({ expect }) => {
    await withRun({ pipeline: "test-remote-counter", env }, (h) => {
      begin(h, { key: "k2", n: 1 });
      const key = `${h.runId}/count/1`;
      expect(h.orchestrator.completeRemote({ ok: false, keys: [key], error: "HTTP 400 from the function", ms: 4 })).toEqual({ accepted: true });
      expect(h.record.row.error).toEqual({ code: "run_failed", message: "step 'count' failed: HTTP 400 from the function", step: "count" });
      expect(h.terminalCalls).toEqual(["failed"]);
    });
    await withRun({ pipeline: "test-remote-big", env }, (h) => {
      // An int argument (the step's argumentType) out of 32-bit range.
      begin(h, { size: 2 ** 40 });
      expect(h.invocationSends).toEqual([]);
      expect(h.record.row.error).toMatchObject({
        code: "run_failed",
        step: "big",
        message: expect.stringMatching(/^step 'big' failed: an argument of type io.statefun.types\/int must be a 32-bit integer/),
      });
    });
  });

  it("buildInvocation refuses a function no endpoint serves", ({ expect }) => {
    const step = { name: "greet", kind: "remote", function: "other/greeter", output: "auto", messagesOnly: false } as RemoteStepDefinition;
    expect(() =>
      buildInvocation({ step, endpoints: [], message: loadMessage(message("hi")), key: "r/greet/0", runId: "r", pipeline: "p", deadlineAt: 1, env: {} }),
    ).toThrow("no endpoint serves function 'other/greeter'");
  });
});
