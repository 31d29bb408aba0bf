/**
 * The Numaflow surface through the Worker's fetch handler inside workerd: sync, async, fetch,
 * status/message, ids and duplicates, with real Run objects. Streams, errors and auth have their
 * own suites; GET-with-body is only possible over real HTTP (see test/e2e).
 */
import { describe, it, vi } from "vitest";
import { uniqueId } from "../helpers/unique";
import { bodyText, call, numaflowResults, post } from "../helpers/http";

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("a pipeline that takes the raw body (input: bytes)", () => {
  it("gets the body as it came, of any content type, as Numaflow passes it, and answers bytes", async ({ expect }) => {
    const text = await call("/pipelines/bytes-upper/v1/process/sync", { method: "POST", body: "hello, world", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(200);
    expect(text.headers.get("content-type")).toBe("application/octet-stream");
    expect(await bodyText(text)).toBe("HELLO, WORLD");
    // Bytes that are not UTF-8 (nor JSON) go through untouched, beside the letters.
    const binary = await call("/pipelines/bytes-upper/v1/process/sync", { method: "POST", body: new Uint8Array([0xff, 0x00, 0x61, 0xfe]) });
    expect(binary.status).toBe(200);
    expect([...new Uint8Array(await binary.arrayBuffer())]).toEqual([0xff, 0x00, 0x41, 0xfe]);
    expect(binary.headers.get("numaflow-array-index-len")).toBe("4");
  });

  it("takes an empty body too, and keeps the raw input for fetch and the stream", async ({ expect }) => {
    const empty = await call("/pipelines/bytes-upper/v1/process/sync", { method: "POST" });
    expect(empty.status).toBe(200);
    expect(empty.headers.get("numaflow-array-len")).toBe("1");
    expect(empty.headers.get("numaflow-array-index-len")).toBe("0");
    const id = uniqueId("raw");
    expect((await post("/pipelines/bytes-upper/v1/process/async", "not json", { "X-Numaflow-Id": id })).status).toBe(200);
    await vi.waitFor(async () => expect(await bodyText(await call(`/pipelines/bytes-upper/v1/process/fetch?id=${id}`))).toBe("NOT JSON"));
  });

  it("gets ZenML's parameters as their JSON text, and answers the result as text", async ({ expect }) => {
    const res = await post("/pipelines/bytes-upper/invoke", { parameters: { say: "hi" } });
    expect(await res.json()).toMatchObject({ success: true, results: '{"SAY":"HI"}' });
  });

  it("captures a raw body as the JSON or text it holds, so redaction reaches its keys", async ({ expect }) => {
    const res = await post("/pipelines/bytes-upper/invoke", { parameters: { password: "hunter2", x: 1 } });
    const { job_id } = (await res.json()) as { job_id: string };
    const job = (await (await call(`/pipelines/bytes-upper/jobs/${job_id}`)).json()) as { parameters: unknown };
    expect(job.parameters).toEqual({ password: "[REDACTED]", x: 1 });
    const id = uniqueId("raw-text");
    await post("/pipelines/bytes-upper/v1/process/sync", "plain words", { "X-Numaflow-Id": id });
    const run = (await (await call(`/v1/pipelines/bytes-upper/runs/${id}`)).json()) as { capture: { parameters: unknown } };
    expect(run.capture.parameters).toBe("plain words");
  });
});

describe("POST /v1/process/sync", () => {
  it("answers word-stats with one JSON result and Numaflow's array headers", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: "The cat and the hat. The end" });
    expect(res.status).toBe(200);
    const body = await bodyText(res);
    expect(body).toBe('{"words":7,"unique":5,"top":[["the",3],["and",1],["cat",1],["end",1],["hat",1]]}');
    expect(res.headers.get("numaflow-array-len")).toBe("1");
    expect(res.headers.get("numaflow-array-index-len")).toBe(String(new TextEncoder().encode(body).length));
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
  });

  it("generates a UUIDv7 run id when none is given and returns it in X-Numaflow-Id", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: "" });
    expect(res.headers.get("x-numaflow-id")).toMatch(UUID_V7);
    expect(await bodyText(res)).toBe('{"words":0,"unique":0,"top":[]}');
  });

  it("uses the caller's id and serves the same pipeline at the root and under /pipelines/word-stats", async ({ expect }) => {
    const id = uniqueId("sync");
    const res = await post("/v1/process/sync", { text: "x" }, { "X-Numaflow-Id": id });
    expect(res.headers.get("x-numaflow-id")).toBe(id);
    const again = await post("/pipelines/word-stats/v1/process/sync", { text: "y" }, { "X-Numaflow-Id": id });
    expect(again.status).toBe(409);
  });

  it("concatenates several results and describes them in Numaflow-Array-Index-Len", async ({ expect }) => {
    const res = await post("/pipelines/sentences/v1/process/sync", { text: "Hi there. How are you? Fine, thanks" });
    expect(res.status).toBe(200);
    expect(res.headers.get("numaflow-array-len")).toBe("3");
    const results = (await numaflowResults(res)).map((r) => JSON.parse(r) as { index: number });
    expect(results.sort((a, b) => a.index - b.index)).toEqual([
      { index: 0, sentence: "Hi there.", kind: "statement" },
      { index: 1, sentence: "HOW ARE YOU?", kind: "question" },
      { index: 2, sentence: "Fine, thanks", kind: "statement" },
    ]);
  });

  it("answers a run with no results with empty array headers", async ({ expect }) => {
    const res = await post("/pipelines/sentences/v1/process/sync", { text: "   " });
    expect(res.status).toBe(200);
    expect(res.headers.get("numaflow-array-len")).toBe("0");
    expect(res.headers.get("numaflow-array-index-len")).toBe("");
    expect(await bodyText(res)).toBe("");
  });

  it("rejects a second request with an id in use with 409, without starting a run", async ({ expect }) => {
    const id = uniqueId("dup");
    await post("/v1/process/sync", { text: "first" }, { "X-Numaflow-Id": id });
    const second = await post("/v1/process/sync", { text: "second second" }, { "X-Numaflow-Id": id });
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({
      message: `Specified request id ${id} already exists in the store`,
      code: 409,
      error_code: "run_id_in_use",
    });
    const fetched = await call(`/v1/process/fetch?id=${id}`);
    expect(await bodyText(fetched)).toBe('{"words":1,"unique":1,"top":[["first",1]]}');
  });

  it("answers 408 with the run id when the request timeout passes, and the run goes on", async ({ expect }) => {
    const id = uniqueId("slow");
    const res = await post("/pipelines/sleep/v1/process/sync", { ms: 2300 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(408);
    expect(res.headers.get("x-numaflow-id")).toBe(id);
    expect(await bodyText(res)).toBe("");
    await vi.waitFor(
      async () => {
        const fetched = await call(`/pipelines/sleep/v1/process/fetch?id=${id}`);
        expect(await bodyText(fetched)).toBe('{"slept":2300}');
      },
      { timeout: 5000, interval: 100 },
    );
  });

  it("answers 500 run_failed in Numaflow's error shape when a step fails", async ({ expect }) => {
    const res = await post("/pipelines/test-failing/v1/process/sync", { fail: true });
    expect(res.status).toBe(500);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 500, error_code: "run_failed" });
    expect(body.message).toContain("step 'explode' failed: exploded on purpose");
    expect(body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  });
});

describe("POST /v1/process/async and GET /v1/process/fetch", () => {
  it("returns Numaflow's receipt at once, then the result on fetch", async ({ expect }) => {
    const id = uniqueId("async");
    const res = await post("/pipelines/sleep/v1/process/async", { ms: 300 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    const receipt = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(receipt)).toEqual(["message", "id", "code", "timestamp"]);
    expect(receipt).toMatchObject({ message: "Successfully published message", id, code: 200 });

    const early = await call(`/pipelines/sleep/v1/process/fetch?id=${id}`);
    expect(await early.json()).toEqual({ status: "in-progress" });
    await vi.waitFor(
      async () => {
        const done = await call(`/pipelines/sleep/v1/process/fetch?id=${id}`);
        expect(done.headers.get("numaflow-array-len")).toBe("1");
        expect(await bodyText(done)).toBe('{"slept":300}');
      },
      { timeout: 3000, interval: 50 },
    );
  });

  it("answers 404 with a JSON error for an unknown id", async ({ expect }) => {
    const res = await call(`/v1/process/fetch?id=${uniqueId("never")}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 404, error_code: "run_not_found" });
  });

  it("answers 400 when the id query parameter is missing", async ({ expect }) => {
    const res = await call("/v1/process/fetch");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error_code: "bad_request" });
  });
});

describe("GET /v1/process/status and /v1/process/message", () => {
  it("answers 'Request In Progress' while running and the message path when done", async ({ expect }) => {
    const id = uniqueId("path");
    await post("/pipelines/sleep/v1/process/async", { ms: 200 }, { "X-Numaflow-Id": id });
    const early = await call(`/pipelines/sleep/v1/process/status?id=${id}`);
    expect(await early.text()).toBe("Request In Progress");
    await vi.waitFor(
      async () => {
        const res = await call(`/pipelines/sleep/v1/process/message?id=${id}`);
        const path = JSON.parse(await res.text()) as { id: string; edge_callbacks: { from: string; to: string; cb_time: number }[] };
        expect(path.id).toBe(id);
        expect(path.edge_callbacks.map((e) => [e.from, e.to])).toEqual([
          ["sleep", "sleep"],
          ["sleep", "out"],
        ]);
        expect(path.edge_callbacks.every((e) => typeof e.cb_time === "number")).toBe(true);
      },
      { timeout: 3000, interval: 50 },
    );
  });

  it("traces every edge a message took through word-stats", async ({ expect }) => {
    const id = uniqueId("path");
    await post("/v1/process/sync", { text: "a" }, { "X-Numaflow-Id": id });
    const res = await call(`/v1/process/status?id=${id}`);
    const path = JSON.parse(await res.text()) as { edge_callbacks: { from: string; to: string }[] };
    expect(path.edge_callbacks.map((e) => `${e.from}->${e.to}`)).toEqual(["normalise->normalise", "normalise->count", "count->summarise", "summarise->out"]);
  });

  it("lists the edges depth first, as Numaflow does: each message's branch to its sink before the next message's", async ({ expect }) => {
    const id = uniqueId("path-dfs");
    // split emits four sentences in order; the questions go through shout on their way out.
    expect((await post("/pipelines/sentences/v1/process/sync", { text: "A. B? C. D?" }, { "X-Numaflow-Id": id })).status).toBe(200);
    const res = await call(`/pipelines/sentences/v1/process/status?id=${id}`);
    const path = JSON.parse(await res.text()) as { edge_callbacks: { from: string; to: string }[] };
    expect(path.edge_callbacks.map((e) => `${e.from}->${e.to}`)).toEqual([
      "split->split",
      "split->out",
      "split->shout",
      "shout->out",
      "split->out",
      "split->shout",
      "shout->out",
    ]);
  });

  it("answers 404 for an unknown id", async ({ expect }) => {
    expect((await call(`/v1/process/status?id=${uniqueId("never")}`)).status).toBe(404);
  });

  it("answers 500 'Failed to track message' for a run that failed, as Numaflow does (it has no subgraph)", async ({ expect }) => {
    const id = uniqueId("path-failed");
    expect((await post("/pipelines/test-failing/v1/process/sync", { fail: true }, { "X-Numaflow-Id": id })).status).toBe(500);
    const res = await call(`/pipelines/test-failing/v1/process/status?id=${id}`);
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ message: "Failed to track message", code: 500 });
  });
});

describe("fan-out and fan-in", () => {
  it("completes only when every branch has reached the sink", async ({ expect }) => {
    const res = await post("/pipelines/test-fanout/v1/process/sync", { n: 6 });
    expect(res.status).toBe(200);
    const values = (await numaflowResults(res)).map(Number).sort((a, b) => a - b);
    // double: 0,2,4,6,8,10; keep (even only): 0,2,4
    expect(values).toEqual([0, 0, 2, 2, 4, 4, 6, 8, 10]);
  });
});

describe("GET /v1/pipelines/{name}/runs/{id}", () => {
  it("describes a finished run with its steps, results and rows written", async ({ expect }) => {
    const id = uniqueId("record");
    await post("/v1/process/sync", { text: "b a b" }, { "X-Numaflow-Id": id });
    const res = await call(`/v1/pipelines/word-stats/runs/${id}`);
    expect(res.status).toBe(200);
    const record = (await res.json()) as Record<string, unknown>;
    expect(record).toMatchObject({
      id,
      pipeline: "word-stats",
      status: "completed",
      surface: "numaflow",
      result_count: 1,
      results: [
        {
          words: 3,
          unique: 2,
          top: [
            ["b", 2],
            ["a", 1],
          ],
        },
      ],
      steps: { normalise: { status: "completed", started: 1, completed: 1 }, out: { status: "completed" } },
    });
    expect(record.rows_written).toBeGreaterThan(0);
  });

  it("answers 404 in the native error shape for an unknown run", async ({ expect }) => {
    const res = await call(`/v1/pipelines/word-stats/runs/${uniqueId("none")}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "run_not_found" });
  });
});

describe("the id header, as steps see the headers", () => {
  it("reaches the steps with the request's id, the one the server chose too, as Numaflow forwards it", async ({ expect }) => {
    const chosen = await post("/pipelines/test-headers/v1/process/sync", {});
    const generated = chosen.headers.get("x-numaflow-id");
    expect(generated).toBeTruthy();
    expect(await chosen.json()).toMatchObject({ "x-numaflow-id": generated });

    const id = uniqueId("given");
    const given = await post("/pipelines/test-headers/v1/process/async", {}, { "X-Numaflow-Id": id });
    expect(given.status).toBe(200);
    await vi.waitFor(
      async () => {
        const fetched = await call(`/pipelines/test-headers/v1/process/fetch?id=${id}`);
        expect(await fetched.json()).toMatchObject({ "x-numaflow-id": id });
      },
      { timeout: 3000, interval: 50 },
    );

    const memory = await post("/pipelines/test-headers-memory/v1/process/sync", {});
    expect(await memory.json()).toMatchObject({ "x-numaflow-id": memory.headers.get("x-numaflow-id") });
  });
});
