/**
 * A start call cut by a reset of its Run object, through the object's fault seams (reachable only
 * through `runInDurableObject`): before the run was stored (the write failed) and after it was
 * (the answer was lost). Either way the caller gets the truth: the run is started once, and the
 * answer says so, instead of a 500 for a run that may be going on. A sync caller whose answer was
 * lost still gets its admission slot back.
 */
import { describe, it, vi } from "vitest";
import type { HostedRun } from "../../durable-objects/run/hosted-run";
import { bodyText, post } from "../helpers/http";
import { indexRow } from "../helpers/run-index";
import { ended, eventsOf, inHostedRun, recordWhen } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "word-stats";

describe("a start cut by a reset", () => {
  it("starts the run when the reset came before it was stored", async ({ expect }) => {
    const id = uniqueId("reset-before");
    await inHostedRun(PIPELINE, id, (run) => {
      run.store.failNextWrite = new Error("storage refused the write");
    });
    const res = await post(`/pipelines/${PIPELINE}/v1/process/async`, { text: "one two two" }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect((await recordWhen(PIPELINE, id, ended)).status).toBe("completed");
  });

  it.for([
    {
      when: "before the run was stored",
      fault: (run: HostedRun): void => {
        run.store.failNextWrite = new Error("storage refused the write");
      },
    },
    {
      when: "after the run was stored",
      fault: (run: HostedRun): void => {
        run.faults.resetAfterNextStart = true;
      },
    },
  ])("answers a sync start with the result when the reset came $when, and runs it once", async ({ fault }, { expect }) => {
    const id = uniqueId("reset-sync");
    await inHostedRun(PIPELINE, id, fault);
    const res = await post(`/pipelines/${PIPELINE}/v1/process/sync`, { text: "one two two" }, { "X-Numaflow-Id": id });
    expect(await bodyText(res)).toBe('{"words":3,"unique":2,"top":[["two",2],["one",1]]}');
    expect((await eventsOf(PIPELINE, id)).filter((e) => e.type === "run_started")).toHaveLength(1);
  });

  it("gives a sync caller its slot back when the reset cut the answer of a run that had ended", async ({ expect }) => {
    // One run at a time; its step returns at once, so the run ends in the burst that stores it.
    const pipeline = "test-admission-inline";
    const id = uniqueId("reset-slot");
    await inHostedRun(pipeline, id, (run) => {
      run.faults.resetAfterNextStart = true;
    });
    const cut = await post(`/pipelines/${pipeline}/v1/process/sync`, { n: 1 }, { "X-Numaflow-Id": id });
    expect(await bodyText(cut)).toBe('{"n":1}');
    // The answer that carried the slot back was lost with the reset: the next run is admitted at
    // once all the same, instead of waiting for the slot's lease to run out.
    const next = await post(`/pipelines/${pipeline}/v1/process/sync`, { n: 2 });
    expect(next.status).toBe(200);
    expect(await bodyText(next)).toBe('{"n":2}');
    // The final index row went with that answer too: the run sent it itself when the start was
    // asked again.
    await vi.waitFor(async () => expect(await indexRow(pipeline, id)).toMatchObject({ status: "completed" }), { timeout: 5000, interval: 20 });
  });

  it("gives a sync caller its slot back when its answer was lost while the run went on, and the run ended after the retry read it", async ({ expect }) => {
    // One run at a time, none waiting; the step sleeps, so the retried start finds the run going on.
    const pipeline = "test-admission-alone";
    const id = uniqueId("cut-slot");
    await inHostedRun(pipeline, id, (run) => {
      run.faults.cutNextStartAnswer = true;
    });
    const cut = await post(`/pipelines/${pipeline}/v1/process/sync`, { ms: 300 }, { "X-Numaflow-Id": id });
    expect(await bodyText(cut)).toBe('{"slept":300}');
    // The call whose answer was lost stopped being the starter when the start was asked again, so
    // the run gave its slot back through its shard when it ended: the pipeline takes runs again
    // within moments, not when the slot's lease runs out (minutes).
    await vi.waitUntil(async () => (await post(`/pipelines/${pipeline}/v1/process/sync`, { ms: 0 })).status === 200, { timeout: 5000, interval: 50 });
    // And its index row through the queue, as any run that no caller waits for.
    await vi.waitFor(async () => expect(await indexRow(pipeline, id)).toMatchObject({ status: "completed" }), { timeout: 5000, interval: 20 });
  });

  it("answers that the run started when the reset came after it was stored, and runs it once", async ({ expect }) => {
    const id = uniqueId("reset-after");
    await inHostedRun(PIPELINE, id, (run) => {
      run.faults.resetAfterNextStart = true;
    });
    const res = await post(`/pipelines/${PIPELINE}/v1/process/async`, { text: "one two two" }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect((await recordWhen(PIPELINE, id, ended)).status).toBe("completed");
    expect((await eventsOf(PIPELINE, id)).filter((e) => e.type === "run_started")).toHaveLength(1);
    // A real duplicate is still one.
    const again = await post(`/pipelines/${PIPELINE}/v1/process/async`, { text: "one two two" }, { "X-Numaflow-Id": id });
    expect(again.status).toBe(409);
  });
});
