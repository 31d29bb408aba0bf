/**
 * Retention, driven by the Run object's alarm: a pipeline's own retention, then deletion of the
 * run's data, results and index entry; `fetch` of the expired run says it expired (404
 * `run_expired`), and the id can be used again.
 */
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { inHostedRun, recordOf, runAlarmAt, runRunAlarm } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-short-retention";

describe("retention", () => {
  it("keeps a run for its pipeline's retention, then deletes everything and answers run_expired", async ({ expect }) => {
    const id = uniqueId("expire");
    const res = await post(`/pipelines/${PIPELINE}/v1/process/sync`, { a: 1 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    const record = await recordOf(PIPELINE, id);
    expect(Date.parse(String(record.expires_at)) - Date.parse(String(record.finished_at))).toBe(1000);
    await vi.waitFor(
      async () => {
        const row = await env.DB.prepare("SELECT status FROM runs WHERE pipeline = ? AND id = ?").bind(PIPELINE, id).first();
        expect(row).toMatchObject({ status: "completed" });
      },
      { timeout: 3000, interval: 50 },
    );

    // Time has to pass for the retention under test: wait until the clock is past the run's own
    // expires_at. (Before it, the alarm keeps the run and fetch below answers 200, not 404.)
    const expiresAt = Date.parse(String(record.expires_at));
    await vi.waitUntil(() => Date.now() > expiresAt, { timeout: 3000, interval: 50 });
    // The alarm the run set for expires_at also fires by itself: while it runs, no alarm is set
    // and none can be run here, so ask again until one has run.
    expect(await vi.waitUntil(() => runRunAlarm(PIPELINE, id), { timeout: 2000, interval: 50 })).toBe(true);

    const fetched = await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`);
    expect(fetched.status).toBe(404);
    const body = (await fetched.json()) as { error_code: string; message: string };
    expect(body.error_code).toBe("run_expired");
    expect(body.message).toMatch(new RegExp(`^run ${id} expired at \\d{4}-\\d\\d-\\d\\dT.*Z: its retention ended and its results were deleted$`));
    const job = await call(`/pipelines/${PIPELINE}/jobs/${id}`);
    expect(job.status).toBe(404);
    expect(((await job.json()) as { detail: string }).detail).toContain("expired");
    expect((await call(`/v1/pipelines/${PIPELINE}/runs/${id}`)).status).toBe(404);
    // The index row goes through the run-events queue: wait for it to be gone.
    await vi.waitUntil(async () => (await env.DB.prepare("SELECT 1 FROM runs WHERE pipeline = ? AND id = ?").bind(PIPELINE, id).first()) === null, {
      timeout: 3000,
      interval: 50,
    });

    // The id is free again, and the new run takes the expired one's tombstone away.
    expect(await inHostedRun(PIPELINE, id, (run) => run.store.get("expired"))).toBeDefined();
    const again = await post(`/pipelines/${PIPELINE}/v1/process/sync`, { a: 2 }, { "X-Numaflow-Id": id });
    expect(again.status).toBe(200);
    expect(await recordOf(PIPELINE, id)).toMatchObject({ status: "completed", results: [{ a: 2 }] });
    expect(await inHostedRun(PIPELINE, id, (run) => run.store.get("expired"))).toBeUndefined();
  });

  it("answers run_not_found, not run_expired, for an id that never ran", async ({ expect }) => {
    const res = await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${uniqueId("never")}`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error_code: string }).error_code).toBe("run_not_found");
  });
});

describe("retention when the run index cannot be reached", () => {
  it("deletes the run's storage anyway and keeps trying to delete its index row from the tombstone's alarm", async ({ expect }) => {
    // The state an expired run leaves when neither the queue nor D1 took its row's deletion: a
    // tombstone that still names the row (the row itself still in D1).
    const id = uniqueId("forget-later");
    const key = { pipeline: PIPELINE, id, created_at: 1_000 };
    await env.DB.prepare(
      "INSERT INTO runs (pipeline, id, surface, status, created_at, steps_executed, version) VALUES (?, ?, 'numaflow', 'completed', ?, 1, 1)",
    )
      .bind(key.pipeline, key.id, key.created_at)
      .run();
    await inHostedRun(PIPELINE, id, (run) => {
      run.store.put("expired", { at: Date.now(), forget: key });
      // Due later, so that only runRunAlarm runs it (one due now would race it).
      run.store.setAlarm(Date.now() + 60_000);
    });
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    await vi.waitUntil(async () => (await env.DB.prepare("SELECT 1 FROM runs WHERE pipeline = ? AND id = ?").bind(PIPELINE, id).first()) === null, {
      timeout: 3000,
      interval: 50,
    });
    // The tombstone stays (the id still answers run_expired), without the row to forget, until its own time is up.
    const left = {
      tombstone: await inHostedRun(PIPELINE, id, (run) => run.store.get<{ at: number; forget?: unknown }>("expired")),
      alarm: await runAlarmAt(PIPELINE, id),
    };
    expect(left.tombstone?.forget).toBeUndefined();
    expect(left.alarm).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect(((await (await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${id}`)).json()) as { error_code: string }).error_code).toBe("run_expired");
  });
});
