/**
 * A run whose inline steps keep the Run object busy for longer than a caller waits: a wide fan-out
 * of CPU-bound steps, none awaiting anything. Its bursts are bounded, so a sync caller gets its
 * 408 at its timeout while the run goes on, and an async caller its acknowledgement at once. Each
 * check compares the answer's time with the run's own finishing time, not with a fixed bound.
 */
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { failFastCalls } from "../helpers/test-pipelines";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-wide-cpu";
/**
 * About 2 ms of CPU each here: the run takes about 6 s, several times the pipeline's 1 s timeout,
 * so a machine twice as fast still runs it well past the timeout, and its first part (the first
 * 1,000 items, `MAX_BURST_DISPATCHES`) ends before the run does.
 */
const INPUT = { n: 3000, spins: 500_000 };

interface RunRecord {
  status: string;
  finished_at: string | null;
}

/** The run's record once it has finished (its own finishing time and status, and its results). */
async function finishedRun(id: string): Promise<{ finishedAt: number; status: string; results: number }> {
  let record: RunRecord | undefined;
  await vi.waitFor(
    async () => {
      record = (await (await call(`/v1/pipelines/${PIPELINE}/runs/${id}`)).json()) as RunRecord;
      if (record.finished_at === null) throw new Error(`run ${id} is ${record.status}`);
    },
    { timeout: 60_000, interval: 100 },
  );
  const results = (await (await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`)).arrayBuffer()).byteLength;
  return { finishedAt: Date.parse(record!.finished_at!), status: record!.status, results };
}

/** Starts a wide run on a Numaflow route: the answer's status and when it came. */
async function startWide(route: "sync" | "async"): Promise<{ id: string; status: number; answeredAt: number }> {
  const id = uniqueId(`wide-${route}`);
  const res = await post(`/pipelines/${PIPELINE}/v1/process/${route}`, INPUT, { "X-Numaflow-Id": id });
  const answeredAt = Date.now();
  await res.body?.cancel();
  return { id, status: res.status, answeredAt };
}

describe("long bursts", () => {
  it("answers a sync caller 408 at its timeout while the run goes on, and the run completes", async ({ expect }) => {
    const answer = await startWide("sync");
    expect(answer.status).toBe(408);
    const run = await finishedRun(answer.id);
    expect(run.finishedAt).toBeGreaterThan(answer.answeredAt);
    expect(run.results).toBeGreaterThan(0);
    expect(run.status).toBe("completed");
  }, 90_000);

  it("acknowledges an async start before the run has run its steps", async ({ expect }) => {
    const answer = await startWide("async");
    expect(answer.status).toBe(200);
    const run = await finishedRun(answer.id);
    expect(run.finishedAt).toBeGreaterThan(answer.answeredAt);
  }, 90_000);

  it("starts no sibling of a burst after a step has failed the run", async ({ expect }) => {
    const id = uniqueId("fail-fast");
    const res = await post("/pipelines/test-fail-fast/v1/process/sync", {}, { "X-Numaflow-Id": id });
    expect(res.status).toBe(500);
    // Items 0, 1 and 2 ran; 2 failed the run, so 3 to 9 never started.
    expect(failFastCalls.get(id)).toBe(3);
    const record = (await (await call(`/v1/pipelines/test-fail-fast/runs/${id}`)).json()) as { status: string; steps: Record<string, { status: string }> };
    expect(record.status).toBe("failed");
    expect(Object.values(record.steps).map((s) => s.status)).not.toContain("running");
  });
});
