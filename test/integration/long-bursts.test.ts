/**
 * A run whose inline steps keep the Run object busy for longer than a caller waits: a wide fan-out
 * of CPU-bound steps, none awaiting anything. Its bursts are bounded, so a sync caller gets its
 * 408 at its timeout while the run goes on, and an async caller its acknowledgement at once. Each
 * check compares the answer's time with the run's own finishing time, not with a fixed bound.
 */
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-wide-cpu";
/** About 2 ms of CPU each here, so the run takes a few seconds, past the pipeline's 1 s timeout. */
const INPUT = { n: 1000, spins: 500_000 };

interface RunRecord {
  status: string;
  finished_at: string | null;
}

/** The run's record once it has finished (its own finishing time, and its results). */
async function finishedRun(id: string): Promise<{ finishedAt: number; results: number }> {
  let record: RunRecord | undefined;
  await vi.waitFor(
    async () => {
      record = (await (await call(`/v1/pipelines/${PIPELINE}/runs/${id}`)).json()) as RunRecord;
      if (record.finished_at === null) throw new Error(`run ${id} is ${record.status}`);
    },
    { timeout: 60_000, interval: 100 },
  );
  const results = (await (await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`)).arrayBuffer()).byteLength;
  return { finishedAt: Date.parse(record!.finished_at!), results };
}

describe("long bursts", () => {
  it("answers a sync caller 408 at its timeout while the run goes on, and the run completes", async ({ expect }) => {
    const id = uniqueId("wide-sync");
    const res = await post(`/pipelines/${PIPELINE}/v1/process/sync`, INPUT, { "X-Numaflow-Id": id });
    const answeredAt = Date.now();
    expect(res.status).toBe(408);
    const run = await finishedRun(id);
    expect(run.finishedAt).toBeGreaterThan(answeredAt);
    expect(run.results).toBeGreaterThan(0);
    const record = (await (await call(`/v1/pipelines/${PIPELINE}/runs/${id}`)).json()) as RunRecord;
    expect(record.status).toBe("completed");
  }, 90_000);

  it("acknowledges an async start before the run has run its steps", async ({ expect }) => {
    const id = uniqueId("wide-async");
    const res = await post(`/pipelines/${PIPELINE}/v1/process/async`, INPUT, { "X-Numaflow-Id": id });
    const answeredAt = Date.now();
    expect(res.status).toBe(200);
    const run = await finishedRun(id);
    expect(run.finishedAt).toBeGreaterThan(answeredAt);
  }, 90_000);
});
