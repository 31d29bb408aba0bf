/**
 * Queued steps end to end inside workerd: the Run object sends stages to the real (Miniflare)
 * stage queue, this Worker's consumer runs them and reports back, and the run goes on.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { bodyText, call, numaflowResults, post } from "../helpers/http";
import { stageCalls } from "../helpers/test-pipelines";
import { uniqueId } from "../helpers/unique";
import { editStoredRun } from "../helpers/stored-run";
import { inHostedRun, runRunAlarm, runStub } from "../helpers/runs";

async function finished(pipeline: string, id: string): Promise<Record<string, unknown>> {
  let record: Record<string, unknown> = {};
  await vi.waitFor(
    async () => {
      const res = await call(`/v1/pipelines/${pipeline}/runs/${id}`);
      record = (await res.json()) as Record<string, unknown>;
      if (record.status === "running" || record.status === "pending") throw new Error(`still ${String(record.status)}`);
    },
    { timeout: 8000, interval: 50 },
  );
  return record;
}

describe("queued steps", () => {
  it("slow-stats gives word-stats' result for the same input", async ({ expect }) => {
    const text = "The cat and the hat. The bat and the cat! Ünïcödé wörds, too: wörds.";
    const slow = await post("/pipelines/slow-stats/v1/process/sync", { text });
    const fast = await post("/pipelines/word-stats/v1/process/sync", { text });
    expect(slow.status).toBe(200);
    expect(await bodyText(slow)).toBe(await bodyText(fast));
  });

  it("records the queued step's sends, claims and timings", async ({ expect }) => {
    const id = uniqueId("queued-record");
    await post("/pipelines/test-queued/v1/process/sync", { value: 21 }, { "X-Numaflow-Id": id });
    const record = await finished("test-queued", id);
    expect(record).toMatchObject({
      status: "completed",
      results: [{ label: "done", doubled: 42 }],
      steps: { double: { status: "completed", started: 1, completed: 1, failed: 0 } },
    });
  });

  it("fans out to two queued steps and fans in after them", async ({ expect }) => {
    const res = await post("/pipelines/test-queued-fanout/v1/process/sync", { n: 12 });
    expect(res.status).toBe(200);
    const results = (await numaflowResults(res)).map(Number).sort((a, b) => a - b);
    const expected = Array.from({ length: 12 }, (_, i) => [(i + 1) ** 2, -(i + 1)])
      .flat()
      .sort((a, b) => a - b);
    expect(results).toEqual(expected);
  });

  it("retries a failing attempt and completes when a later one succeeds", async ({ expect }) => {
    const id = uniqueId("queued-retry");
    const res = await post("/pipelines/test-queued/v1/process/async", { value: 5, failTimes: 2 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    const record = await finished("test-queued", id);
    expect(record).toMatchObject({ status: "completed", results: [{ label: "done", doubled: 10 }] });
    expect(record.steps).toMatchObject({ double: { started: 3, completed: 1, retried: 2 } });
    expect(stageCalls.get(id)).toBe(3);
  });

  it("fails the run through the dead-letter queue when the retries are used up, on every surface", async ({ expect }) => {
    const id = uniqueId("queued-dlq");
    await post("/pipelines/test-queued/v1/process/async", { value: 5, failTimes: 10 }, { "X-Numaflow-Id": id });
    const record = await finished("test-queued", id);
    expect(stageCalls.get(id)).toBe(3);
    const message = "step 'double' failed: failed on purpose (call 3) (after 3 attempts)";
    expect(record).toMatchObject({ status: "failed", error: { code: "run_failed", step: "double", message } });

    const fetched = await call(`/pipelines/test-queued/v1/process/fetch?id=${id}`);
    expect(fetched.status).toBe(500);
    expect(await bodyText(fetched)).toContain(message);
    const job = await call(`/pipelines/test-queued/jobs/${id}`);
    expect(await job.json()).toMatchObject({ status: "failed", error: message });
  });

  it("sends an input too large for a queue message through R2, and deletes it with the run", async ({ expect }) => {
    const id = uniqueId("queued-r2");
    const words = Array.from({ length: 30_000 }, (_, i) => `w${i % 7919}`).join(" ");
    const slow = await post("/pipelines/slow-stats/v1/process/sync", { text: words }, { "X-Numaflow-Id": id });
    const fast = await post("/pipelines/word-stats/v1/process/sync", { text: words });
    expect(slow.status).toBe(200);
    expect(await bodyText(slow)).toBe(await bodyText(fast));
    const prefix = `stages/slow-stats/${encodeURIComponent(id)}/`;
    expect((await env.PAYLOADS.list({ prefix })).objects).toHaveLength(1);
    const events = await (await call(`/v1/pipelines/slow-stats/runs/${id}`)).json();
    expect(events).toMatchObject({ status: "completed" });

    // The retention ends (moved to the past instead of waiting a day): the alarm deletes the run and its objects.
    await inHostedRun("slow-stats", id, (run) => {
      editStoredRun(run.store, (row) => (row.expiresAt = Date.now() - 1));
    });
    await evictDurableObject(runStub("slow-stats", id));
    expect(await runRunAlarm("slow-stats", id)).toBe(true);
    expect((await env.PAYLOADS.list({ prefix })).objects).toHaveLength(0);
    expect((await call(`/pipelines/slow-stats/v1/process/fetch?id=${id}`)).status).toBe(404);
  });
});
