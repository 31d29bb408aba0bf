/**
 * A run's results in its pipeline's store: when a run of a KV or R2 pipeline ends, its results
 * move there (and leave SQLite), every surface reads them back, and retention deletes them. A
 * result over SQLite's row limit goes to R2 whatever the store.
 */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { resultKey } from "../../src/results/result-store";
import { bodyText, call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { inHostedRun, recordOf, runRunAlarm, runStub } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";
import { editStoredRun, storedResults } from "../helpers/stored-run";

async function locations(pipeline: string, id: string) {
  return inHostedRun(pipeline, id, (run) => storedResults(run.store));
}

async function expire(pipeline: string, id: string) {
  await inHostedRun(pipeline, id, (run) => {
    editStoredRun(run.store, (row) => (row.expiresAt = Date.now() - 1));
  });
  // A new instance reads the changed row (the old one keeps its copy in memory).
  await evictDurableObject(runStub(pipeline, id));
  return runRunAlarm(pipeline, id);
}

describe("result stores", () => {
  it("moves a KV pipeline's results to KV when the run ends, serves them, and deletes them at retention", async ({ expect }) => {
    const pipeline = "test-kv-results";
    const id = uniqueId("kv");
    const res = await post(`/pipelines/${pipeline}/v1/process/sync`, { hello: "kv" }, { "X-Numaflow-Id": id });
    expect(await bodyText(res)).toBe('{"hello":"kv"}');
    const key = resultKey({ pipeline, runId: id }, 0);
    await vi.waitFor(async () => expect(await env.RESULTS_KV.get(key)).toBe('{"hello":"kv"}'), { timeout: 3000, interval: 20 });
    expect(await locations(pipeline, id)).toEqual([{ location: "kv", size: 0 }]);

    expect(await bodyText(await call(`/pipelines/${pipeline}/v1/process/fetch?id=${id}`))).toBe('{"hello":"kv"}');
    expect(await recordOf(pipeline, id)).toMatchObject({ results: [{ hello: "kv" }] });
    const stream = await readSse(await call(`/pipelines/${pipeline}/v1/process/sse?id=${id}`));
    expect(stream.events.map((e) => e.data)).toEqual(['{"hello":"kv"}']);

    expect(await expire(pipeline, id)).toBe(true);
    expect(await env.RESULTS_KV.get(key)).toBeNull();
  });

  it("moves an R2 pipeline's results to R2, and deletes them at retention", async ({ expect }) => {
    const pipeline = "test-r2-results";
    const id = uniqueId("r2");
    await post(`/pipelines/${pipeline}/v1/process/sync`, { hello: "r2" }, { "X-Numaflow-Id": id });
    const key = resultKey({ pipeline, runId: id }, 0);
    await vi.waitFor(async () => expect(await env.RESULTS_BUCKET.head(key)).not.toBeNull(), { timeout: 3000, interval: 20 });
    expect(await locations(pipeline, id)).toEqual([{ location: "r2", size: 0 }]);
    expect(await bodyText(await call(`/pipelines/${pipeline}/v1/process/fetch?id=${id}`))).toBe('{"hello":"r2"}');
    const job = (await (await call(`/pipelines/${pipeline}/jobs/${id}`)).json()) as { result: unknown };
    expect(job.result).toEqual({ hello: "r2" });
    expect(await expire(pipeline, id)).toBe(true);
    expect(await env.RESULTS_BUCKET.head(key)).toBeNull();
  });

  it("keeps a result over the row limit in parts, then moves it to R2 though the pipeline keeps results in SQLite", async ({ expect }) => {
    const pipeline = "test-echo";
    const id = uniqueId("big");
    const big = "y".repeat(1_500_000);
    const res = await post(`/pipelines/${pipeline}/v1/process/sync`, { big }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect((await bodyText(res)).length).toBe(big.length + 10);
    const key = resultKey({ pipeline, runId: id }, 0);
    await vi.waitFor(async () => expect(await env.RESULTS_BUCKET.head(key)).not.toBeNull(), { timeout: 3000, interval: 20 });
    expect(await locations(pipeline, id)).toEqual([{ location: "r2", size: 0 }]);
    const fetched = await bodyText(await call(`/pipelines/${pipeline}/v1/process/fetch?id=${id}`));
    expect(fetched === JSON.stringify({ big })).toBe(true);
  });

  it("keeps a large result of a small input in parts, answers it whole, and moves it to R2", async ({ expect }) => {
    const pipeline = "test-inflate";
    const id = uniqueId("inflate");
    const chars = 1_200_000;
    const res = await post(`/pipelines/${pipeline}/v1/process/sync`, { chars }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect((await bodyText(res)).length).toBe(chars + 2);
    const key = resultKey({ pipeline, runId: id }, 0);
    await vi.waitFor(async () => expect(await env.RESULTS_BUCKET.head(key)).not.toBeNull(), { timeout: 3000, interval: 20 });
    expect(await locations(pipeline, id)).toEqual([{ location: "r2", size: 0 }]);
    const fetched = await bodyText(await call(`/pipelines/${pipeline}/v1/process/fetch?id=${id}`));
    expect(fetched.length).toBe(chars + 2);
  });
});
