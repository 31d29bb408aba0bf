/**
 * The stage queue refusing sends, through the Run object's fault seam (`faults`, reachable only
 * through `runInDurableObject`; the real Miniflare queue carries every send that is not refused).
 * A refused send is not counted as a send and goes again after a backoff (1 s, 2 s, 4 s, …), so a
 * queue that is down for a few seconds delays the run, and one that stays down (an hour, here past
 * a 5-second deadline) ends it at its deadline with an error that names the refusal.
 */
import { describe, it } from "vitest";
import { post } from "../helpers/http";
import { ended, eventsOf, inHostedRun, recordWhen } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

function refuseStageSends(pipeline: string, id: string, forMs: number): Promise<void> {
  return inHostedRun(pipeline, id, (run) => {
    run.faults.refuseStageSendsUntil = Date.now() + forMs;
  });
}

describe("a stage queue that refuses sends", () => {
  it("delays the run while it is down for a few seconds, without counting the refused sends", { timeout: 20_000 }, async ({ expect }) => {
    const id = uniqueId("queue-down");
    await refuseStageSends("test-queued", id, 2500);
    const res = await post("/pipelines/test-queued/v1/process/async", { value: 21 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);

    const record = await recordWhen("test-queued", id, ended, 20_000);
    expect(record.status).toBe("completed");
    expect(record.results).toEqual([{ label: "done", doubled: 42 }]);
    const events = await eventsOf("test-queued", id);
    const refused = events.filter((e) => e.type === "step_send_failed");
    // The fault really happened: the first send and at least one resend were refused, 1 s then 2 s apart.
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused.map((e) => e.data?.retry_in_ms)).toEqual([1000, 2000, 4000].slice(0, refused.length));
    // Every send that left carries send number 1: refused sends were not counted.
    expect(events.filter((e) => e.type === "step_queued").map((e) => e.data?.send)).toEqual(Array(refused.length + 1).fill(1));
    expect(record.steps.double).toMatchObject({ status: "completed", started: 1, completed: 1 });
  });

  it("ends the run at its deadline when the queue stays down, naming the refusal", { timeout: 20_000 }, async ({ expect }) => {
    const id = uniqueId("queue-gone");
    await refuseStageSends("test-queued-short-deadline", id, 3_600_000);
    const res = await post("/pipelines/test-queued-short-deadline/v1/process/async", { value: 1 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);

    const record = await recordWhen("test-queued-short-deadline", id, ended, 20_000);
    expect(record).toMatchObject({ status: "failed", error: { code: "run_timeout" } });
    const message = String((record.error as { message: string }).message);
    expect(message).toContain("run exceeded its timeout of 5 s");
    expect(message).toContain("step 'double' could not be sent");
    expect(message).toContain("injected fault");
    // Backing off, the run tried a few times in 5 s (at 0, 1, 3 s), not in a tight loop.
    const refused = (await eventsOf("test-queued-short-deadline", id)).filter((e) => e.type === "step_send_failed");
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused.length).toBeLessThanOrEqual(4);
  });
});
