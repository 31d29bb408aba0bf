/**
 * Durable execution with queued steps, under the Vitest integration's fault tools: the Run object
 * evicted or reset before, during and after a queued step; the watchdog alarm sending again a stage
 * whose message was lost; deadlines and cancellation while a queued step is in flight. In every
 * case the run reaches exactly one terminal state, and the step's outputs are applied at most once.
 */
import { abortAllDurableObjects, evictDurableObject } from "cloudflare:test";
import { afterEach, describe, it } from "vitest";
import { storeMessage } from "../../src/pipeline/message";
import type { StartRunRequest } from "../../src/runs/protocol";
import { MAX_STAGE_SENDS } from "../../durable-objects/run/orchestrator";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";
import { STAGE_QUEUE } from "../../src/queues/stage-message";
import { call, post } from "../helpers/http";
import { refusedReport, watchReports } from "../helpers/reports";
import { ended, eventsOf, inHostedRun, recordOf, recordWhen, runRunAlarm, runStub, stageOf } from "../helpers/runs";
import { holdStage, stageCalls, type Gate } from "../helpers/test-pipelines";
import { uniqueId } from "../helpers/unique";
import { editStoredWork, storedWork } from "../helpers/stored-run";

const PIPELINE = "test-queued";

function startRequest(id: string, value: number, runTimeoutSeconds?: number): StartRunRequest {
  return {
    runId: id,
    pipeline: PIPELINE,
    input: storeMessage({ value: { value }, tags: [], keys: [] }),
    headers: {},
    surface: "native",
    capture: {
      fallback: { mode: "full", sampleRate: 0.1, maxBytes: 262_144, redact: ["password"] },
      runtime: "REALTIME",
      sampleFraction: 1,
    },
    ...(runTimeoutSeconds ? { runTimeoutSeconds } : {}),
  };
}

/**
 * Runs `body` on a run whose queued step holds at the gate once a consumer has claimed it, and
 * opens the gate at the end whatever happens: the local queue hands a consumer one batch at a
 * time, so a held delivery holds up every other stage until it is let go.
 */
async function withHeldRun(value: number, body: (id: string, gate: Gate) => Promise<void>, runTimeoutSeconds?: number) {
  const id = uniqueId("q-held");
  const gate = holdStage(id);
  openGates.push(gate);
  try {
    await runStub(PIPELINE, id).start(id, startRequest(id, value, runTimeoutSeconds));
    await gate.reached();
    await body(id, gate);
  } finally {
    gate.open();
  }
}

// A test that times out never reaches its `finally`: its gates are opened here as well.
const openGates: Gate[] = [];
afterEach(() => {
  for (const gate of openGates.splice(0)) gate.open();
});

// Each late report of a held delivery is waited for by the Run object's answer to it.
watchReports();

/** The work item of the run's one queued step (its first message). */
const stageKey = (id: string) => `${id}/double/0`;

describe("queued steps under eviction", () => {
  it("completes when the Run object is evicted before a consumer claims the step", async ({ expect }) => {
    const id = uniqueId("q-evict-before");
    await runStub(PIPELINE, id).start(id, startRequest(id, 5));
    await evictDurableObject(runStub(PIPELINE, id));
    const record = await recordWhen(PIPELINE, id, ended);
    expect(record).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 10 }] });
    expect(record.steps.double).toMatchObject({ started: 1, completed: 1 });
  });

  it("completes when the Run object is reset while the consumer runs the step", async ({ expect }) => {
    let id = "";
    await withHeldRun(6, async (held, gate) => {
      id = held;
      await abortAllDurableObjects();
      gate.open();
      const record = await recordWhen(PIPELINE, id, ended);
      expect(record).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 12 }], result_count: 1 });
    });
    expect(stageCalls.get(id)).toBe(1);
  });

  it("keeps the result when the Run object is evicted after the step", async ({ expect }) => {
    const id = uniqueId("q-evict-after");
    await post(`/pipelines/${PIPELINE}/v1/process/sync`, { value: 8 }, { "X-Numaflow-Id": id });
    await evictDurableObject(runStub(PIPELINE, id));
    expect(await recordOf(PIPELINE, id)).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 16 }] });
  });
});

describe("the watchdog and queued steps", () => {
  it("sends a stage again when nothing was heard of it within its lease, and ignores the late first report", async ({ expect }) => {
    // The first delivery hangs (held at the gate) past its lease, as if its consumer were lost.
    await withHeldRun(9, async (id, gate) => {
      await inHostedRun(PIPELINE, id, (run) => {
        editStoredWork(run.store, (item) => (item.leaseUntil = Date.now() - 1));
      });
      await abortAllDurableObjects();
      expect(await runRunAlarm(PIPELINE, id)).toBe(true);
      const work = await inHostedRun(PIPELINE, id, (run) => storedWork(run.store).map(({ sends, state: s }) => ({ sends, state: s })));
      expect(work).toEqual([{ sends: 2, state: "queued" }]);

      // The second send reaches another consumer (delivered by hand: the local queue is held up).
      const batch = createMessageBatch(STAGE_QUEUE, [
        { id: "resend", body: stageOf(PIPELINE, id, "double", 0, { value: 9 }, 2), timestamp: new Date(), attempts: 1 },
      ]);
      await worker.queue(batch, env);
      expect((await getQueueResult(batch, createExecutionContext())).explicitAcks).toEqual(["resend"]);
      const record = await recordOf(PIPELINE, id);
      expect(record).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 18 }], result_count: 1 });
      const events = await eventsOf(PIPELINE, id);
      expect(events.filter((e) => e.type === "step_queued").map((e) => e.data?.send)).toEqual([1, 2]);
      // The claimed first attempt was lost with its consumer: on record, and the step follows its last attempt.
      expect(events.filter((e) => e.type === "step_interrupted")).toMatchObject([{ step: "double", data: { attempt: 1 } }]);
      expect(record.steps.double).toMatchObject({ status: "completed", started: 2, completed: 1, interrupted: 1 });

      gate.open();
      expect(await refusedReport("completeStage", stageKey(id))).toEqual({ accepted: false, reason: "run_ended" });
      expect(stageCalls.get(id)).toBe(2);
      expect(await recordOf(PIPELINE, id)).toEqual(record);
    });
  });

  it(`fails the run when a stage was sent ${MAX_STAGE_SENDS} times and no consumer finished it`, async ({ expect }) => {
    await withHeldRun(1, async (id) => {
      await inHostedRun(PIPELINE, id, (run) => {
        editStoredWork(run.store, (item) => {
          item.leaseUntil = Date.now() - 1;
          item.sends = MAX_STAGE_SENDS;
        });
      });
      await abortAllDurableObjects();
      expect(await runRunAlarm(PIPELINE, id)).toBe(true);
      expect(await recordOf(PIPELINE, id)).toMatchObject({
        status: "failed",
        error: {
          code: "run_failed",
          step: "double",
          message: `queued step 'double' made no progress: it was sent ${MAX_STAGE_SENDS} times and no consumer finished it`,
        },
      });
    });
  });

  it("ends a run at its deadline while its queued step is in flight", async ({ expect }) => {
    await withHeldRun(
      2,
      async (id, gate) => {
        const record = await recordWhen(PIPELINE, id, ended, 4000);
        expect(record).toMatchObject({ status: "failed", error: { code: "run_timeout" } });
        gate.open();
        expect(await refusedReport("completeStage", stageKey(id))).toEqual({ accepted: false, reason: "run_ended" });
        expect(await recordOf(PIPELINE, id)).toEqual(record);
      },
      1,
    );
  });
});

describe("cancelling while a queued step is in flight", () => {
  it("stops the run from the ZenML surface and ignores the step's late report", async ({ expect }) => {
    await withHeldRun(3, async (id, gate) => {
      const res = await call(`/pipelines/${PIPELINE}/jobs/${id}/cancel`, { method: "POST" });
      expect(res.status).toBe(200);
      gate.open();
      expect(await refusedReport("completeStage", stageKey(id))).toEqual({ accepted: false, reason: "run_ended" });
      const record = await recordOf(PIPELINE, id);
      expect(record).toMatchObject({ status: "cancelled", result_count: 0, results: null });
      expect(record.steps.double).toMatchObject({ completed: 0 });
      const types = (await eventsOf(PIPELINE, id)).map((e) => e.type);
      expect(types.filter((t) => t === "step_completed")).toEqual([]);
      expect(types.at(-1)).toBe("run_cancelled");
    });
  });

  it("stops the run from the native API, and a second cancel answers 409", async ({ expect }) => {
    await withHeldRun(4, async (id, gate) => {
      const res = await call(`/v1/pipelines/${PIPELINE}/runs/${id}/cancel?reason=enough`, { method: "POST" });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: "cancelled", error: { code: "run_cancelled", message: "enough" } });
      gate.open();
      expect(await refusedReport("completeStage", stageKey(id))).toEqual({ accepted: false, reason: "run_ended" });
      expect(await recordOf(PIPELINE, id)).toMatchObject({ status: "cancelled", result_count: 0 });
      const again = await call(`/v1/pipelines/${PIPELINE}/runs/${id}/cancel`, { method: "POST" });
      expect(again.status).toBe(409);
      expect(await again.json()).toMatchObject({ code: "run_finished" });
    });
    const unknown = await call(`/v1/pipelines/${PIPELINE}/runs/${uniqueId("nobody")}/cancel`, { method: "POST" });
    expect(unknown.status).toBe(404);
  });
});
