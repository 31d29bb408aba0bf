/**
 * Admission control with one shard (vitest.config.ts sets EDGESERVE_ADMISSION_SHARDS=1, so the
 * limits are exact here) on `test-admission` (1 concurrent run, 1 queued): 429 with Retry-After
 * and nothing half-made, async queueing as `pending` until a slot frees, duplicates and replays
 * that never take or free a slot, and slots that come back from every path that ends a run or
 * never starts one. A slot of a run that ended while nobody waited for it comes back through the
 * run-events queue, so those checks wait for the slot (a later start succeeding), never a sleep.
 * Sharded accuracy is argued in the README, not tested.
 */
import { describe, it, vi } from "vitest";
import { socketFirstFrame } from "../../durable-objects/run/socket-watchers";
import { call, post } from "../helpers/http";
import { uniqueId } from "../helpers/unique";

const jobOf = async (id: string) =>
  (await (await call(`/pipelines/test-admission/jobs/${id}`)).json()) as {
    status: string;
    result: unknown;
    started_at: string | null;
    completed_at: string | null;
  };
const submit = async (ms: number) => {
  const res = await post("/pipelines/test-admission/invoke?mode=async", { parameters: { ms } });
  if (res.status !== 200) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { job_id: string };
};
const syncRun = (ms: number, id?: string) => post("/pipelines/test-admission/v1/process/sync", { ms }, id ? { "X-Numaflow-Id": id } : {});
const WAIT = { timeout: 5000, interval: 50 };

/** Waits until the pipeline's slot is free again: a short sync run is admitted (a 429 starts nothing). */
async function slotIsFree(): Promise<void> {
  await vi.waitUntil(async () => (await syncRun(1)).status === 200, WAIT);
}

/** Waits until every earlier run has ended and its slot is back. */
async function settle(...jobIds: string[]): Promise<void> {
  for (const id of jobIds) await vi.waitUntil(async () => ["completed", "failed", "canceled"].includes((await jobOf(id)).status), WAIT);
  await slotIsFree();
}

describe("admission control", () => {
  it("queues async runs past the concurrency limit, refuses past the queue with 429, and runs the queued one later", async ({ expect }) => {
    await slotIsFree();
    const first = await submit(600);
    const second = await submit(50);
    expect((await jobOf(first.job_id)).status).toBe("running");
    // A job waiting in the queue has not started, as ZenML says of a pending job.
    expect(await jobOf(second.job_id)).toMatchObject({ status: "pending", started_at: null });

    const refused = await post("/pipelines/test-admission/invoke?mode=async", { parameters: { ms: 1 } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(((await refused.json()) as { detail: string }).detail).toContain("at its limit of 1 concurrent runs and 1 queued");

    await vi.waitFor(async () => expect(await jobOf(second.job_id)).toMatchObject({ status: "completed", result: { slept: 50 } }), WAIT);
    // It started when its slot came, after the first run: its execution time is its own 50 ms, not its wait.
    const done = (await jobOf(second.job_id)) as unknown as { created_at: string; started_at: string; execution_time: number };
    expect(Date.parse(done.started_at)).toBeGreaterThan(Date.parse(done.created_at) + 300);
    expect(done.execution_time).toBeLessThan(0.5);
    await settle(first.job_id, second.job_id);
  });

  it("cancels a job waiting in the queue: it never started, so it has no start time and no execution time", async ({ expect }) => {
    await slotIsFree();
    const first = await submit(300);
    const queued = await submit(50);
    expect((await jobOf(queued.job_id)).status).toBe("pending");
    expect((await call(`/pipelines/test-admission/jobs/${queued.job_id}/cancel`, { method: "POST" })).status).toBe(200);
    expect(await jobOf(queued.job_id)).toMatchObject({ status: "canceled", started_at: null, execution_time: null, cancel_reason: null });
    expect((await jobOf(queued.job_id)).completed_at).not.toBeNull();
    await settle(first.job_id);
  });

  it("refuses a sync call past the limit with 429 and starts nothing", async ({ expect }) => {
    await slotIsFree();
    const busy = await submit(500);
    const id = uniqueId("refused");
    const res = await syncRun(1, id);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(await res.json()).toMatchObject({ code: 429, error_code: "too_many_requests" });
    expect((await call(`/pipelines/test-admission/v1/process/fetch?id=${id}`)).status).toBe(404);
    // Once the busy run has ended and its slot is back, the same id runs.
    await vi.waitUntil(async () => (await syncRun(1, id)).status === 200, WAIT);
    expect((await jobOf(busy.job_id)).status).toBe("completed");
  });

  it("queues a ZenML sync /invoke past the concurrency limit while the queue has room, answers it when it has run, and refuses past the queue", async ({
    expect,
  }) => {
    await slotIsFree();
    const busy = await submit(400);
    // ZenML's sync call waits in the queue for a slot, and is answered once its run has run.
    const waiting = post("/pipelines/test-admission/invoke", { parameters: { ms: 1 } });
    await vi.waitFor(async () => {
      const pending = (await (await call("/pipelines/test-admission/jobs?status=pending")).json()) as { total: number };
      expect(pending.total).toBe(1);
    }, WAIT);
    // The queue is full now: a third call is refused.
    const refused = await post("/pipelines/test-admission/invoke", { parameters: { ms: 1 } });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("5");
    const answered = await waiting;
    expect(answered.status).toBe(200);
    expect(await answered.json()).toMatchObject({ success: true, results: { slept: 1 } });
    expect((await jobOf(busy.job_id)).status).toBe("completed");
    await settle();
  });

  it("keeps no payloads past the answer of a queued ZenML sync call whose policy keeps none, and frees its slot when it ends", async ({ expect }) => {
    await slotIsFree();
    const busy = await submit(300);
    const answered = await post("/pipelines/test-admission/invoke", { parameters: { ms: 1 }, capture_override: { mode: "metadata" } });
    const body = (await answered.json()) as { success: boolean; job_id: string; results: unknown };
    expect(body).toMatchObject({ success: true, results: { slept: 1 } });
    // As for a sync call that found a slot at once: the job keeps statuses and timings, no result.
    expect(await jobOf(body.job_id)).toMatchObject({ status: "completed", result: null });
    expect((await jobOf(busy.job_id)).status).toBe("completed");
    // The slot its shard gave it goes back when it ends: the pipeline takes runs again.
    await settle();
  });

  it("refuses Numaflow's async past the queue with 429 in Numaflow's error shape", async ({ expect }) => {
    await slotIsFree();
    const running = await submit(400);
    const queued = await submit(1);
    const res = await post("/pipelines/test-admission/v1/process/async", { ms: 1 });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ code: 429, error_code: "too_many_requests" });
    await vi.waitFor(async () => expect((await jobOf(queued.job_id)).status).toBe("completed"), WAIT);
    expect((await jobOf(running.job_id)).status).toBe("completed");
    await settle();
  });

  it("gives a sync run's slot straight back to the caller when the run ends while it waits", async ({ expect }) => {
    await slotIsFree();
    // No queue delivery is needed between these: each sync run's slot comes back with its answer.
    for (let i = 0; i < 5; i++) expect((await syncRun(1)).status).toBe(200);
  });

  it("never frees a running run's slot when a duplicate id is refused (a Numaflow retry)", async ({ expect }) => {
    await slotIsFree();
    const id = uniqueId("dup-running");
    const started = await post("/pipelines/test-admission/v1/process/async", { ms: 600 }, { "X-Numaflow-Id": id });
    expect(started.status).toBe(200);
    // The same id again, on every start route: each is a duplicate (409), none takes or frees the slot.
    expect((await syncRun(1, id)).status).toBe(409);
    expect((await post("/pipelines/test-admission/v1/process/async", { ms: 1 }, { "X-Numaflow-Id": id })).status).toBe(409);
    // The running run still holds the only slot: a new sync run is refused.
    expect((await syncRun(1)).status).toBe(429);
    await vi.waitUntil(async () => (await call(`/pipelines/test-admission/v1/process/fetch?id=${id}`)).headers.get("numaflow-array-len") === "1", WAIT);
    await slotIsFree();
  });

  it("answers a replayed create of a finished run even when the pipeline is full (no 429)", async ({ expect }) => {
    await slotIsFree();
    const key = uniqueId("replay");
    const first = await post("/v1/pipelines/test-admission/runs", { ms: 1 }, { "Idempotency-Key": key });
    expect(first.status).toBe(200);
    const busy = await submit(600);
    expect((await syncRun(1)).status).toBe(429);
    const replay = await post("/v1/pipelines/test-admission/runs", { ms: 1 }, { "Idempotency-Key": key });
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    // The replay took no slot and freed none: the busy run still holds it.
    expect((await syncRun(1)).status).toBe(429);
    await settle(busy.job_id);
  });

  it("gives the slot back when a WebSocket's first frame is invalid, and when it closes before sending one", async ({ expect }) => {
    await slotIsFree();
    for (const misuse of ["bad-frame", "early-close"] as const) {
      const res = await call("/pipelines/test-admission/stream", { headers: { Upgrade: "websocket" } });
      expect(res.status).toBe(101);
      const socket = res.webSocket!;
      socket.accept();
      const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
      // The socket holds the only slot until it starts a run or gives up.
      expect((await syncRun(1)).status).toBe(429);
      if (misuse === "bad-frame") {
        socket.send("not json");
        expect(await closed).toBe(1008);
      } else {
        socket.close(1000, "changed my mind");
        await closed;
      }
      await slotIsFree();
    }
  });

  it("closes a WebSocket that sends no request frame in time, and gives its slot back (an idle socket held the pipeline's only slot)", async ({ expect }) => {
    await slotIsFree();
    socketFirstFrame.deadlineMs = 300;
    try {
      const res = await call("/pipelines/test-admission/stream", { headers: { Upgrade: "websocket" } });
      expect(res.status).toBe(101);
      const socket = res.webSocket!;
      const frames: string[] = [];
      socket.addEventListener("message", (e) => frames.push(String(e.data)));
      const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
      socket.accept();
      expect((await syncRun(1)).status).toBe(429);
      expect(await closed).toBe(1008);
      expect(frames.join("")).toContain("no request frame within 0.3 s of connecting");
      await slotIsFree();
    } finally {
      socketFirstFrame.deadlineMs = 60_000;
    }
  });

  it("cancels a queued job, which frees its place in the queue", async ({ expect }) => {
    await slotIsFree();
    const running = await submit(400);
    const queued = await submit(1);
    const res = await call(`/pipelines/test-admission/jobs/${queued.job_id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    expect((await jobOf(queued.job_id)).status).toBe("canceled");
    // The cancelled job's place comes back through the run-events queue: the next one waits in it.
    let another: { job_id: string } | undefined;
    await vi.waitUntil(async () => {
      const attempt = await post("/pipelines/test-admission/invoke?mode=async", { parameters: { ms: 1 } });
      if (attempt.status === 200) another = (await attempt.json()) as { job_id: string };
      return another !== undefined;
    }, WAIT);
    expect(["pending", "running", "completed"]).toContain((await jobOf(another!.job_id)).status);
    await vi.waitFor(async () => expect((await jobOf(another!.job_id)).status).toBe("completed"), WAIT);
    expect((await jobOf(running.job_id)).status).toBe("completed");
    await settle();
  });

  it("keeps a queued run's place when the same id is started twice at once while the pipeline is full", async ({ expect }) => {
    await slotIsFree();
    const busy = await submit(400);
    const id = uniqueId("dup-queued");
    const start = () => post("/pipelines/test-admission/v1/process/async", { ms: 1 }, { "X-Numaflow-Id": id });
    // Both find no run and no room, both queue under the same id; one starts, the other is a duplicate.
    const statuses = (await Promise.all([start(), start()])).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409]);
    // The duplicate must not have withdrawn the queue entry its twin waits on: once the busy run
    // ends, the queued run is promoted and completes (stuck pending until its deadline otherwise).
    await vi.waitFor(async () => expect((await jobOf(id)).status).toBe("completed"), WAIT);
    await settle(busy.job_id);
  });

  it("admits every run while the pipeline is under its limit, however many requests arrive at once", async ({ expect }) => {
    // Eight at a time against a limit of 8, in blocks of 2: requests that find the block used up
    // share one lease call (concurrent leases each retired the block before, stranding its slots).
    for (let wave = 0; wave < 5; wave++) {
      const statuses = await Promise.all(
        Array.from({ length: 8 }, () => post("/pipelines/test-admission-wide/v1/process/sync", { ms: 20 }).then((r) => r.status)),
      );
      expect(statuses).toEqual(Array(8).fill(200));
    }
  });
});
