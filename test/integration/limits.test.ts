/**
 * Documented limits with clear errors: the fan-out of one step invocation (EDGESERVE_MAX_FANOUT,
 * default 10,000) and the live subscribers of one run (EDGESERVE_MAX_SUBSCRIBERS, 40 in
 * vitest.config.ts).
 */
import { describe, it } from "vitest";
import { call, post } from "../helpers/http";
import { ended, recordWhen } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

/** A text of `n` sentences: the split step emits one message each. */
const sentences = (n: number) => ({ text: "a. ".repeat(n) });

describe("the fan-out limit", () => {
  it("fails a run whose step emits more messages from one input than the limit, naming it", async ({ expect }) => {
    const id = uniqueId("fanout");
    const res = await post("/pipelines/test-sentences-local/v1/process/async", sentences(10_001), { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    const record = await recordWhen("test-sentences-local", id, ended);
    expect(record).toMatchObject({ status: "failed", error: { code: "run_failed", step: "split" } });
    expect((record.error as { message: string }).message).toBe(
      "step 'split' failed: emitted 10001 messages from one input, over the fan-out limit of 10000 (EDGESERVE_MAX_FANOUT)",
    );
    expect(record.result_count).toBe(0);
  });

  it("runs a fan-out at the limit", async ({ expect }) => {
    const id = uniqueId("fanout-max");
    await post("/pipelines/test-sentences-local/v1/process/async", sentences(10_000), { "X-Numaflow-Id": id });
    expect(await recordWhen("test-sentences-local", id, ended, 20_000)).toMatchObject({ status: "completed", result_count: 10_000 });
  });

  it("holds memory-only runs to the same limit", async ({ expect }) => {
    const res = await post("/pipelines/test-sentences-memory/v1/process/sync", sentences(10_001));
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("over the fan-out limit of 10000");
  });
});

describe("the subscriber limit", () => {
  it("refuses a live subscriber over the limit with 429 too_many_subscribers and Retry-After", async ({ expect }) => {
    const created = await post("/v1/pipelines/sleep/runs", { ms: 10_000 }, { Prefer: "respond-async" });
    const url = created.headers.get("location")!;
    const streams = await Promise.all(Array.from({ length: 40 }, () => call(`${url}/events`)));
    expect(streams.map((s) => s.status)).toEqual(Array(40).fill(200));

    const refused = await call(`${url}/events`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(await refused.json()).toMatchObject({ code: "too_many_subscribers", message: expect.stringContaining("EDGESERVE_MAX_SUBSCRIBERS") });

    // A finished run's replay is not live, so it is never refused.
    expect((await call(url, { method: "DELETE" })).status).toBe(200);
    for (const stream of streams) await stream.body?.cancel();
    expect((await call(`${url}/events`)).status).toBe(200);
  });
});
