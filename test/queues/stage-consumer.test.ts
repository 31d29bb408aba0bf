/**
 * The stage consumer and its dead-letter consumer, driven with `createMessageBatch` and judged by
 * `getQueueResult` (acks and retries asserted, as well as their effect on the run): unknown runs
 * and bad messages, duplicates in flight and after the fact, late reports, retries with the step's
 * backoff, dead-lettering, and a consumer that crashes at each point of its work.
 *
 * Runs here also get their real stage message from the Miniflare queue. Tests that deliver by hand
 * beside it hold the real delivery at a gate (`holdStage`), so the order of events is theirs.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, it } from "vitest";
import worker from "../../src/index";
import { ChaosFault, STAGE_FAULT_POINTS } from "../../src/chaos";
import { STAGE_DLQ, STAGE_QUEUE, type StageFailure } from "../../src/queues/stage-message";
import { post } from "../helpers/http";
import { refusedReport, watchReports } from "../helpers/reports";
import { ended, eventsOf, recordOf, recordWhen, runStub, stageOf } from "../helpers/runs";
import { holdStage, stageCalls, type Gate } from "../helpers/test-pipelines";
import { uniqueId } from "../helpers/unique";

let sequence = 0;

async function deliver(queue: string, bodies: unknown[], options: { attempts?: number; env?: Env } = {}) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body) => ({ id: `manual-${++sequence}`, body, timestamp: new Date(), attempts: options.attempts ?? 1 })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, options.env ?? env);
  return { batch, result: await getQueueResult(batch, ctx) };
}

/** Starts a run whose real stage is held at the gate once the consumer has claimed it. */
async function heldRun(pipeline: string, input: { value: number; failTimes?: number }) {
  const id = uniqueId("held");
  const gate = holdStage(id);
  openGates.push(gate);
  const res = await post(`/pipelines/${pipeline}/v1/process/async`, input, { "X-Numaflow-Id": id });
  if (res.status !== 200) throw new Error(`async start answered ${res.status}`);
  await gate.reached();
  return { id, gate };
}

// The local queue hands the consumer one batch at a time: a gate left shut would hold up every
// later stage, so each test's gates are opened when it ends, pass or fail.
const openGates: Gate[] = [];
afterEach(() => {
  for (const gate of openGates.splice(0)) gate.open();
});

// Late reports from held deliveries are waited for by their Run object's answer.
watchReports();

describe("stage consumer", () => {
  it("acknowledges a stage of an unknown run without retrying it", async ({ expect }) => {
    const { batch, result } = await deliver(STAGE_QUEUE, [stageOf("test-queued", uniqueId("nobody"), "double", 0, { value: 1 })]);
    expect(result.explicitAcks).toEqual([batch.messages[0]!.id]);
    expect(result.retryMessages).toEqual([]);
  });

  it("acknowledges and drops a message that is not a stage", async ({ expect }) => {
    const { batch, result } = await deliver(STAGE_QUEUE, [{ hello: "world" }, "text"]);
    expect(result.explicitAcks.sort()).toEqual(batch.messages.map((m) => m.id).sort());
    expect(result.retryMessages).toEqual([]);
  });

  it("acknowledges duplicates of a stage whose run has ended, changing nothing", async ({ expect }) => {
    const id = uniqueId("dup-after");
    await post("/pipelines/test-queued/v1/process/sync", { value: 4 }, { "X-Numaflow-Id": id });
    const before = await recordOf("test-queued", id);
    const eventsBefore = await eventsOf("test-queued", id);
    const stage = stageOf("test-queued", id, "double", 0, { value: 4 });
    const { batch, result } = await deliver(STAGE_QUEUE, [stage, stage, { ...stage, attempt: 2 }]);
    expect(result.explicitAcks.sort()).toEqual(batch.messages.map((m) => m.id).sort());
    expect(result.retryMessages).toEqual([]);
    expect(stageCalls.get(id)).toBe(1);
    expect(await recordOf("test-queued", id)).toEqual(before);
    expect(await eventsOf("test-queued", id)).toEqual(eventsBefore);
  });

  it("applies one outcome when a duplicate runs while the first is in flight", async ({ expect }) => {
    const { id, gate } = await heldRun("test-queued", { value: 7 });
    const { batch, result } = await deliver(STAGE_QUEUE, [stageOf("test-queued", id, "double", 0, { value: 7 })]);
    expect(result.explicitAcks).toEqual([batch.messages[0]!.id]);
    const record = await recordWhen("test-queued", id, ended);
    expect(record).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 14 }], result_count: 1 });

    gate.open();
    // The held delivery reports late: the Run object refuses it, and nothing changes.
    expect(await refusedReport("completeStage", `${id}/double/0`)).toEqual({ accepted: false, reason: "run_ended" });
    expect(stageCalls.get(id)).toBe(2);
    const events = await eventsOf("test-queued", id);
    expect(events.filter((e) => e.type === "step_started" && e.step === "double")).toHaveLength(2);
    expect(events.filter((e) => e.type === "step_completed" && e.step === "double")).toHaveLength(1);
    expect(await recordOf("test-queued", id)).toEqual(record);
  });

  it("refuses a late report for a step that has completed", async ({ expect }) => {
    const id = uniqueId("late");
    await post("/pipelines/test-queued/v1/process/sync", { value: 2 }, { "X-Numaflow-Id": id });
    const late = await runStub("test-queued", id).completeStage(id, {
      key: `${id}/double/0`,
      attempt: 1,
      outputs: [{ v: { doubled: 999 } }],
      ms: 1,
    });
    expect(late).toEqual({ accepted: false, reason: "run_ended" });
    expect(await recordOf("test-queued", id)).toMatchObject({ results: [{ label: "done", doubled: 4 }] });
  });

  it("retries a failed attempt with the step's backoff, then sends the last failure to the dead-letter queue", async ({ expect }) => {
    const { id, gate } = await heldRun("test-queued-slow-retry", { value: 1, failTimes: 10 });
    gate.open();
    // The real first attempt fails and is put back with the step's first delay (60 s).
    await recordWhen("test-queued-slow-retry", id, (r) => r.steps.double?.retried === 1);
    const stage = stageOf("test-queued-slow-retry", id, "double", 0, { value: 1, failTimes: 10 });

    const second = await deliver(STAGE_QUEUE, [stage], { attempts: 2 });
    expect(second.result.explicitAcks).toEqual([]);
    // (The plugin's QueueResult leaves out retry delays; the step_retrying events below show them.)
    expect(second.result.retryMessages).toEqual([{ msgId: second.batch.messages[0]!.id }]);

    const third = await deliver(STAGE_QUEUE, [stage], { attempts: 3 });
    expect(third.result.explicitAcks).toEqual([third.batch.messages[0]!.id]);
    expect(third.result.retryMessages).toEqual([]);

    // The dead-letter consumer (the real one) fails the run with the last error.
    const record = await recordWhen("test-queued-slow-retry", id, ended);
    expect(record).toMatchObject({
      status: "failed",
      error: { code: "run_failed", step: "double", message: "step 'double' failed: failed on purpose (call 3) (after 3 attempts)" },
    });
    const retrying = (await eventsOf("test-queued-slow-retry", id)).filter((e) => e.type === "step_retrying");
    expect(retrying.map((e) => e.data?.delay_s)).toEqual([60, 120]);
  });

  for (const point of STAGE_FAULT_POINTS) {
    it(`survives a consumer that crashes ${point}`, async ({ expect }) => {
      const { id, gate } = await heldRun("test-queued", { value: 3 });
      const stage = stageOf("test-queued", id, "double", 0, { value: 3 });
      const chaos = { ...env, EDGESERVE_CHAOS: "on", EDGESERVE_CHAOS_STAGE_FAILURE_RATE: "1", EDGESERVE_CHAOS_STAGE_FAULT_POINT: point };
      const batch = createMessageBatch(STAGE_QUEUE, [{ id: `crash-${++sequence}`, body: stage, timestamp: new Date(), attempts: 1 }]);
      // A crashed invocation acknowledges nothing, so the queue delivers the message again.
      await expect(worker.queue(batch, chaos as Env)).rejects.toThrow(ChaosFault);
      expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toEqual([]);

      const redelivered = await deliver(STAGE_QUEUE, [stage], { attempts: 2 });
      expect(redelivered.result.explicitAcks).toEqual([redelivered.batch.messages[0]!.id]);
      gate.open();
      const record = await recordWhen("test-queued", id, ended);
      expect(record).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 6 }], result_count: 1 });
      const completions = (await eventsOf("test-queued", id)).filter((e) => e.type === "step_completed" && e.step === "double");
      expect(completions).toHaveLength(1);
    });
  }
});

describe("stage dead-letter consumer", () => {
  it("fails the step of a stage the queue gave up on, and the late report is ignored", async ({ expect }) => {
    const { id, gate } = await heldRun("test-queued", { value: 1 });
    const stage = stageOf("test-queued", id, "double", 0, { value: 1 });
    const { batch, result } = await deliver(STAGE_DLQ, [stage], { attempts: 21 });
    expect(result.explicitAcks).toEqual([batch.messages[0]!.id]);
    const record = await recordOf("test-queued", id);
    expect(record).toMatchObject({ status: "failed", error: { step: "double" } });
    expect(String((record.error as { message: string }).message)).toContain("the stage queue gave up on it");
    gate.open();
    // The held delivery's late report arrives and is refused; the failed run stays as it was.
    expect(await refusedReport("completeStage", stage.key)).toEqual({ accepted: false, reason: "run_ended" });
    expect(await recordOf("test-queued", id)).toEqual(record);
  });

  it("acknowledges failures of unknown runs and bad messages", async ({ expect }) => {
    const failure: StageFailure = {
      kind: "stage_failure",
      runId: uniqueId("nobody"),
      pipeline: "test-queued",
      step: "double",
      key: "x/double/0",
      attempts: 3,
      error: "boom",
    };
    const { batch, result } = await deliver(STAGE_DLQ, [failure, { nonsense: true }]);
    expect(result.explicitAcks.sort()).toEqual(batch.messages.map((m) => m.id).sort());
    expect(result.retryMessages).toEqual([]);
  });
});
