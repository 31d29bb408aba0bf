/**
 * Every stream route of an expired run answers 404 `run_expired` (the tombstone), like fetch and
 * describe do, rather than `run_not_found`.
 */
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { recordOf, runRunAlarm } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-short-retention";

describe("streams of an expired run", () => {
  it("answer run_expired on the Numaflow, ZenML and native stream routes", async ({ expect }) => {
    const id = uniqueId("expired-stream");
    expect((await post(`/pipelines/${PIPELINE}/v1/process/sync`, { a: 1 }, { "X-Numaflow-Id": id })).status).toBe(200);
    const expiresAt = Date.parse(String((await recordOf(PIPELINE, id)).expires_at));
    // Time has to pass for the retention under test.
    await vi.waitUntil(() => Date.now() > expiresAt, { timeout: 3000, interval: 50 });
    // The retention alarm may have fired by itself by now; if not, it runs here. Either way the
    // routes below must find the tombstone.
    await runRunAlarm(PIPELINE, id);

    const numaflow = await call(`/pipelines/${PIPELINE}/v1/process/sse?id=${id}`);
    expect(numaflow.status).toBe(404);
    expect(await numaflow.json()).toMatchObject({ error_code: "run_expired" });
    const zenml = await call(`/pipelines/${PIPELINE}/stream/${id}`);
    expect(zenml.status).toBe(404);
    expect(await zenml.json()).toMatchObject({ code: "run_expired" });
    const native = await call(`/v1/pipelines/${PIPELINE}/runs/${id}`);
    expect(native.status).toBe(404);
    expect(await native.json()).toMatchObject({ code: "run_expired" });
  });
});
