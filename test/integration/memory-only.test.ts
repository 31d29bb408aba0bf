/**
 * Memory-only pipelines (`word-stats-memory`): sync calls run inside the Worker with no Run object
 * and no storage, and everything that would need a stored run answers a clear 409.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, it } from "vitest";
import { bodyText, call, post } from "../helpers/http";
import { uniqueId } from "../helpers/unique";

describe("memory-only", () => {
  it("answers a Numaflow sync call with the same result as word-stats, leaving no Run object behind", async ({ expect }) => {
    const id = uniqueId("mem");
    const res = await post("/pipelines/word-stats-memory/v1/process/sync", { text: "b a b" }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-numaflow-id")).toBe(id);
    expect(res.headers.get("numaflow-array-len")).toBe("1");
    expect(await bodyText(res)).toBe('{"words":3,"unique":2,"top":[["b",2],["a",1]]}');
    const stub = env.RUNS.get(env.RUNS.idFromName(`word-stats-memory:${id}`));
    const stored = await runInDurableObject(stub, (_i, state) => ({
      schema: state.storage.sql.exec("SELECT name FROM sqlite_master").toArray(),
      entries: [...state.storage.kv.list()],
    }));
    expect(stored).toEqual({ schema: [], entries: [] });
  });

  it("answers ZenML's sync /invoke", async ({ expect }) => {
    const body = (await (await post("/pipelines/word-stats-memory/invoke", { parameters: { text: "x" } })).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ success: true, run_id: null, message: null, results: { words: 1, unique: 1, top: [["x", 1]] } });
    // ZenML's sync metadata, as for a stored run.
    expect(body.metadata).toMatchObject({ pipeline_name: "word-stats-memory", steps_executed: 3, step_results: {}, debug: {} });
  });

  it("still validates the input", async ({ expect }) => {
    expect((await post("/pipelines/word-stats-memory/v1/process/sync", { text: 1 })).status).toBe(400);
    expect((await post("/pipelines/word-stats-memory/invoke", { parameters: { text: 1 } })).status).toBe(422);
  });

  it("refuses async, fetch, status, streams and jobs with 409 memory_only, saying why", async ({ expect }) => {
    const numaflow = await post("/pipelines/word-stats-memory/v1/process/async", { text: "a" });
    expect(numaflow.status).toBe(409);
    expect(await numaflow.json()).toMatchObject({ error_code: "memory_only" });
    for (const path of ["/v1/process/fetch?id=x", "/v1/process/status?id=x", "/jobs", "/jobs/x", "/stream/x"]) {
      expect((await call(`/pipelines/word-stats-memory${path}`)).status).toBe(409);
    }
    const zenml = await post("/pipelines/word-stats-memory/invoke?mode=async", { parameters: { text: "a" } });
    expect(zenml.status).toBe(409);
    expect(((await zenml.json()) as { detail: string }).detail).toContain("memory-only");
  });
});
