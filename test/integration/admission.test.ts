/**
 * Admission control with one shard (vitest.config.ts sets EDGESERVE_ADMISSION_SHARDS=1, so the
 * limits are exact here) on `test-admission` (1 concurrent run, 1 queued): 429 with Retry-After
 * and nothing half-made, async queueing as `pending` until a slot frees, and slots given back on
 * duplicates and cancels. Sharded accuracy is described in the README, not tested.
 */
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { uniqueId } from "../helpers/unique";

const jobOf = async (id: string) => (await (await call(`/pipelines/test-admission/jobs/${id}`)).json()) as { status: string; result: unknown };
const submit = async (ms: number) =>
  (await (await post("/pipelines/test-admission/invoke?mode=async", { parameters: { ms } })).json()) as { job_id: string };

describe("admission control", () => {
  it("queues async runs past the concurrency limit, refuses past the queue with 429, and runs the queued one later", async ({ expect }) => {
    const first = await submit(600);
    const second = await submit(50);
    expect((await jobOf(first.job_id)).status).toBe("running");
    expect((await jobOf(second.job_id)).status).toBe("pending");

    const refused = await post("/pipelines/test-admission/invoke?mode=async", { parameters: { ms: 1 } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(((await refused.json()) as { detail: string }).detail).toContain("at its limit of 1 concurrent runs and 1 queued");

    await vi.waitFor(async () => expect(await jobOf(second.job_id)).toMatchObject({ status: "completed", result: { slept: 50 } }), {
      timeout: 5000,
      interval: 100,
    });
  });

  it("refuses a sync call past the limit with 429 and starts nothing", async ({ expect }) => {
    const busy = await submit(500);
    const id = uniqueId("refused");
    const res = await post("/pipelines/test-admission/v1/process/sync", { ms: 1 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toMatchObject({ code: 429, error_code: "too_many_requests" });
    expect((await call(`/pipelines/test-admission/v1/process/fetch?id=${id}`)).status).toBe(404);
    await vi.waitFor(async () => expect((await jobOf(busy.job_id)).status).toBe("completed"), { timeout: 5000, interval: 100 });
    // The slot is free again: the same id now runs.
    const retried = await post("/pipelines/test-admission/v1/process/sync", { ms: 1 }, { "X-Numaflow-Id": id });
    expect(retried.status).toBe(200);
  });

  it("refuses Numaflow's async past the queue with 429 in Numaflow's error shape", async ({ expect }) => {
    const running = await submit(400);
    const queued = await submit(1);
    const res = await post("/pipelines/test-admission/v1/process/async", { ms: 1 });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ code: 429, error_code: "too_many_requests" });
    await vi.waitFor(async () => expect((await jobOf(queued.job_id)).status).toBe("completed"), { timeout: 5000, interval: 100 });
    expect((await jobOf(running.job_id)).status).toBe("completed");
  });

  it("gives the slot back when a start is refused as a duplicate", async ({ expect }) => {
    const id = uniqueId("dup");
    expect((await post("/pipelines/test-admission/v1/process/sync", { ms: 1 }, { "X-Numaflow-Id": id })).status).toBe(200);
    expect((await post("/pipelines/test-admission/v1/process/sync", { ms: 1 }, { "X-Numaflow-Id": id })).status).toBe(409);
    expect((await post("/pipelines/test-admission/v1/process/sync", { ms: 1 })).status).toBe(200);
  });

  it("cancels a queued job, which frees its place in the queue", async ({ expect }) => {
    const running = await submit(400);
    const queued = await submit(1);
    const res = await call(`/pipelines/test-admission/jobs/${queued.job_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    expect((await jobOf(queued.job_id)).status).toBe("canceled");
    const another = await submit(1);
    expect((await jobOf(another.job_id)).status).toBe("pending");
    await vi.waitFor(async () => expect((await jobOf(another.job_id)).status).toBe("completed"), { timeout: 5000, interval: 100 });
    expect((await jobOf(running.job_id)).status).toBe("completed");
  });
});
