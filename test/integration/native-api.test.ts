/**
 * The native API inside workerd: pipelines, creating runs (sync, `Prefer: respond-async`,
 * `Idempotency-Key`), reading them by id, results, events, cancelling, errors in edgeserve's
 * envelope, and the OpenAPI document generated from the routes' schemas.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { storedRow } from "../helpers/stored-run";
import { uniqueId } from "../helpers/unique";
import { onJournal } from "../helpers/runs";
import type { RunObject } from "../../durable-objects/run/run-object";

const text = "the cat and the hat";
const wordStats = {
  words: 5,
  unique: 4,
  top: [
    ["the", 2],
    ["and", 1],
    ["cat", 1],
    ["hat", 1],
  ],
};

describe("native API", () => {
  it("describes a pipeline with its steps, edges and input schema", async ({ expect }) => {
    const res = await call("/v1/pipelines/word-stats");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      name: "word-stats",
      version: "1",
      edges: [
        { from: "normalise", to: "count" },
        { from: "count", to: "summarise" },
        { from: "summarise", to: "out" },
      ],
      input_schema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] },
      request_timeout_seconds: 120,
    });
    const missing = await call("/v1/pipelines/nope");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "pipeline_not_found" });
  });

  it("runs sync by default and answers the record with its URL", async ({ expect }) => {
    const res = await post("/v1/pipelines/word-stats/runs", { text });
    expect(res.status).toBe(200);
    const record = (await res.json()) as { id: string; url: string; status: string; results: unknown[] };
    expect(record).toMatchObject({ status: "completed", results: [wordStats], surface: "native" });
    expect(record.id.startsWith("word-stats~")).toBe(true);
    expect(res.headers.get("location")).toBe(record.url);
    const again = await call(record.url);
    expect(await again.json()).toMatchObject({ id: record.id, status: "completed" });
    const result = await call(`${record.url}/result`);
    expect(await result.json()).toEqual({ id: record.id, status: "completed", results: [wordStats] });
  });

  it("answers 202 with the run's URL for Prefer: respond-async, then serves its events", async ({ expect }) => {
    const res = await post("/v1/pipelines/sleep/runs", { ms: 300 }, { Prefer: "respond-async" });
    expect(res.status).toBe(202);
    expect(res.headers.get("preference-applied")).toBe("respond-async");
    const url = res.headers.get("location")!;
    expect((await call(`${url}/result`)).status).toBe(202);
    await vi.waitFor(async () => expect(await (await call(url)).json()).toMatchObject({ status: "completed" }), { timeout: 3000, interval: 50 });
    const events = await readSse(await call(`${url}/events`));
    expect(events.events.map((e) => e.event)).toEqual(["run_started", "step_started", "step_completed", "result", "run_completed"]);
    const resumed = await readSse(await call(`${url}/events`, { headers: { "Last-Event-ID": events.events[2]!.id! } }));
    expect(resumed.events.map((e) => e.event)).toEqual(["result", "run_completed"]);
  });

  it("returns the same run for a retried create with the same Idempotency-Key", async ({ expect }) => {
    const key = uniqueId("order");
    const first = await post("/v1/pipelines/word-stats/runs", { text }, { "Idempotency-Key": key });
    const second = await post("/v1/pipelines/word-stats/runs", { text }, { "Idempotency-Key": key });
    const a = (await first.json()) as { id: string };
    const b = (await second.json()) as { id: string; status: string };
    expect(b.id).toBe(a.id);
    expect(b.status).toBe("completed");
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(second.headers.get("idempotent-replayed")).toBe("true");
  });

  it("answers 202 for Prefer: respond-async even when the run has already ended", async ({ expect }) => {
    const key = uniqueId("done");
    const sync = await post("/v1/pipelines/word-stats/runs", { text }, { "Idempotency-Key": key });
    expect(sync.status).toBe(200);
    const done = (await sync.json()) as { id: string; url: string };
    // The same create asked async: the run it names has completed, and the answer is still 202.
    const replay = await post("/v1/pipelines/word-stats/runs", { text }, { "Idempotency-Key": key, Prefer: "respond-async" });
    expect(replay.status).toBe(202);
    expect(replay.headers.get("preference-applied")).toBe("respond-async");
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.headers.get("location")).toBe(done.url);
    expect(await replay.json()).toMatchObject({ id: done.id, status: "completed" });
    // A fresh async run of an inline pipeline, whatever its state when answered.
    const fresh = await post("/v1/pipelines/word-stats/runs", { text }, { Prefer: "respond-async" });
    expect(fresh.status).toBe(202);
  });

  it("refuses an Idempotency-Key reused with another body (422), at once and without starting a run", async ({ expect }) => {
    const key = uniqueId("reused");
    const first = await post("/v1/pipelines/sleep/runs", { ms: 3000 }, { "Idempotency-Key": key, Prefer: "respond-async" });
    expect(first.status).toBe(202);
    const run = (await first.json()) as { id: string };
    // Still running: the refusal does not wait for it.
    const other = await post("/v1/pipelines/sleep/runs", { ms: 1 }, { "Idempotency-Key": key });
    expect(other.status).toBe(422);
    expect(await other.json()).toMatchObject({ code: "idempotency_key_reused" });
    const same = await post("/v1/pipelines/sleep/runs", { ms: 3000 }, { "Idempotency-Key": key, Prefer: "respond-async" });
    expect(same.status).toBe(202);
    expect(same.headers.get("idempotent-replayed")).toBe("true");
    expect(((await same.json()) as { id: string }).id).toBe(run.id);
    expect(await (await call(`/v1/runs/${run.id}`, { method: "DELETE" })).json()).toMatchObject({ status: "cancelled" });
  });

  it("finds a run started on another surface by its id", async ({ expect }) => {
    const id = uniqueId("nf");
    await post("/v1/process/sync", { text }, { "X-Numaflow-Id": id });
    await vi.waitFor(async () => expect((await call(`/v1/runs/${id}`)).status).toBe(200), { timeout: 3000, interval: 50 });
    expect(await (await call(`/v1/runs/${id}`)).json()).toMatchObject({ pipeline: "word-stats", surface: "numaflow", results: [wordStats] });
  });

  it("cancels with DELETE, and a second DELETE answers 409", async ({ expect }) => {
    const res = await post("/v1/pipelines/sleep/runs", { ms: 5000 }, { Prefer: "respond-async" });
    const url = res.headers.get("location")!;
    const cancelled = await call(url, { method: "DELETE" });
    expect(cancelled.status).toBe(200);
    // The step it cut short shows as stopped, not running.
    expect(await cancelled.json()).toMatchObject({ status: "cancelled", error: { code: "run_cancelled" }, steps: { sleep: { status: "stopped" } } });
    const again = await call(url, { method: "DELETE" });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "run_finished" });
    expect(((await (await call(`${url}/result`)).json()) as { code: string }).code).toBe("run_finished");
  });

  it("answers errors in edgeserve's envelope", async ({ expect }) => {
    const bad = await post("/v1/pipelines/word-stats/runs", { txt: 1 });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "invalid_input", details: expect.any(Array) });
    const unknown = await call(`/v1/runs/${uniqueId("nobody")}`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: "run_not_found", message: expect.any(String) });
    const memory = await post("/v1/pipelines/word-stats-memory/runs", { text });
    expect(memory.status).toBe(409);
  });
});

describe("OpenAPI", () => {
  it("serves an OpenAPI 3.1 document generated from the routes' schemas, and a reference page", async ({ expect }) => {
    const res = await call("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths).sort()).toEqual([
      "/v1/pipelines",
      "/v1/pipelines/{name}",
      "/v1/pipelines/{name}/runs",
      "/v1/pipelines/{name}/runs/{id}",
      "/v1/pipelines/{name}/runs/{id}/cancel",
      "/v1/pipelines/{name}/runs/{id}/events",
      "/v1/pipelines/{name}/runs/{id}/stream-ticket",
      "/v1/runs/{id}",
      "/v1/runs/{id}/events",
      "/v1/runs/{id}/result",
    ]);
    expect(Object.keys(doc.paths["/v1/runs/{id}"]!).sort()).toEqual(["delete", "get"]);
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(["Run", "Pipeline", "PipelineSummary", "Error", "RunResult"]));
    const page = await call("/docs");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
  });
});

describe("native API methods", () => {
  it("answers 405 with Allow for a known path asked with another method", async ({ expect }) => {
    const runs = await call("/v1/pipelines/word-stats/runs", { method: "PUT" });
    expect(runs.status).toBe(405);
    expect(runs.headers.get("allow")).toBe("POST");
    expect(await runs.json()).toMatchObject({ code: "method_not_allowed" });
    const run = await call("/v1/runs/word-stats~x", { method: "POST" });
    expect(run.status).toBe(405);
    expect(run.headers.get("allow")).toBe("GET, DELETE");
  });

  // The object host's ids; a journal run's shard is a hash of its id, whatever it looks like.
  it.skipIf(onJournal)("gives a run it names itself an id that carries its object's id, and finds runs by it (no name check)", async ({ expect }) => {
    const res = await post("/v1/pipelines/word-stats/runs", { text: "a b a" });
    const record = (await res.json()) as { id: string; status: string };
    expect(record.id).toMatch(/^word-stats~[0-9a-f]{64}$/);
    // The object the id carries holds the run.
    const objectId = env.RUNS.idFromString(record.id.slice("word-stats~".length));
    const stored = await runInDurableObject(env.RUNS.get(objectId), (instance: RunObject) => storedRow(instance.hostedRun(record.id).store).id);
    expect(stored).toBe(record.id);
    expect(await (await call(`/v1/runs/${record.id}`)).json()).toMatchObject({ id: record.id, status: "completed" });

    // An id that only looks like one (not this namespace's) is an unknown run, not an error.
    const forged = `word-stats~${"ab".repeat(32)}`;
    const missing = await call(`/v1/runs/${forged}`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "run_not_found" });
  });
});
