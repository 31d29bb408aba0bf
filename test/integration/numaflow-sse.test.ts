/**
 * Numaflow's SSE route through the Worker in workerd: start-and-stream with POST, subscribing to an
 * existing run, event ids, `Last-Event-ID` resume and late subscribers. GET with a body can only be
 * sent over real HTTP, so it is covered in test/e2e; heartbeat timing is covered there too.
 */
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { uniqueId } from "../helpers/unique";

describe("POST /v1/process/sse", () => {
  it("starts a run and streams each result as a data event with an id, then closes", async ({ expect }) => {
    const id = uniqueId("sse");
    const res = await post("/pipelines/sentences/v1/process/sse", { text: "One. Two? Three" }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    expect(res.headers.get("x-numaflow-id")).toBe(id);
    const read = await readSse(res);
    expect(read.closed).toBe(true);
    expect(read.events).toHaveLength(3);
    expect(read.events.every((e) => e.event === undefined && e.id !== undefined)).toBe(true);
    const sentences = read.events.map((e) => (JSON.parse(e.data) as { sentence: string }).sentence).sort();
    expect(sentences).toEqual(["One.", "TWO?", "Three"]);
  });

  it("rejects a stream with the id of a run that sync or async started with 409, and starts nothing", async ({ expect }) => {
    const id = uniqueId("sse-dup");
    expect((await post("/v1/process/async", { text: "a" }, { "X-Numaflow-Id": id })).status).toBe(200);
    const again = await post("/v1/process/sse", { text: "b" }, { "X-Numaflow-Id": id });
    expect(again.status).toBe(409);
  });

  it("replays the whole stream to the same id sent again after a stream broke off, as Numaflow re-attaches", async ({ expect }) => {
    const id = uniqueId("sse-resend");
    const body = { ms: 300 };
    // The first client goes away before the result; the run goes on.
    const first = await post("/pipelines/sleep/v1/process/sse", body, { "X-Numaflow-Id": id });
    expect(first.status).toBe(200);
    await first.body?.cancel();
    // The client sends the same request again (no Last-Event-ID): it gets the run's stream from the start.
    const again = await post("/pipelines/sleep/v1/process/sse", body, { "X-Numaflow-Id": id });
    expect(again.status).toBe(200);
    const read = await readSse(again);
    expect(read.closed).toBe(true);
    expect(read.events.map((e) => e.data)).toEqual(['{"slept":300}']);
    // A sync call with that id is still a duplicate.
    expect((await post("/pipelines/sleep/v1/process/sync", body, { "X-Numaflow-Id": id })).status).toBe(409);
  });

  it("re-attaches a re-sent SSE start while its pipeline is full, and refuses another surface's id with 409, not 429", async ({ expect }) => {
    // One run at a time, none waiting.
    const pipeline = "/pipelines/test-admission-alone/v1/process";
    const asyncId = uniqueId("sse-full-async");
    expect((await post(`${pipeline}/async`, { ms: 300 }, { "X-Numaflow-Id": asyncId })).status).toBe(200);
    expect((await post(`${pipeline}/sse`, { ms: 300 }, { "X-Numaflow-Id": asyncId })).status).toBe(409);

    // Once that run has given its slot back, an SSE run fills the pipeline itself.
    const id = uniqueId("sse-full");
    const first = await vi.waitUntil(
      async () => {
        const res = await post(`${pipeline}/sse`, { ms: 300 }, { "X-Numaflow-Id": id });
        return res.status === 200 ? res : undefined;
      },
      { timeout: 5000, interval: 50 },
    );
    await first.body?.cancel();
    const again = await post(`${pipeline}/sse`, { ms: 300 }, { "X-Numaflow-Id": id });
    expect(again.status).toBe(200);
    expect((await readSse(again)).events.map((e) => e.data)).toEqual(['{"slept":300}']);
  });

  it("treats a re-sent start request with Last-Event-ID as the client reconnecting, not a duplicate", async ({ expect }) => {
    const id = uniqueId("sse-reconnect");
    const body = { text: "One. Two. Three." };
    const first = await readSse(await post("/pipelines/sentences/v1/process/sse", body, { "X-Numaflow-Id": id }));
    const again = await post("/pipelines/sentences/v1/process/sse", body, {
      "X-Numaflow-Id": id,
      "Last-Event-ID": first.events[0]!.id!,
    });
    expect(again.status).toBe(200);
    const rest = await readSse(again);
    expect(rest.events.map((e) => e.data)).toEqual(first.events.slice(1).map((e) => e.data));
  });

  it("answers 400 for a body that fails the pipeline's input schema, before any run", async ({ expect }) => {
    const id = uniqueId("sse-bad");
    const res = await post("/v1/process/sse", { text: 5 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(400);
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(404);
  });
});

describe("subscribing to an existing run", () => {
  it("gives a subscriber that arrives after the run finished the whole stream, then the close", async ({ expect }) => {
    const id = uniqueId("late");
    await post("/pipelines/sentences/v1/process/sync", { text: "A. B. C." }, { "X-Numaflow-Id": id });
    const late = await readSse(await call(`/pipelines/sentences/v1/process/sse?id=${id}`));
    expect(late.closed).toBe(true);
    expect(late.events.map((e) => (JSON.parse(e.data) as { index: number }).index).sort()).toEqual([0, 1, 2]);
  });

  it("subscribes by the id header as well as by ?id=", async ({ expect }) => {
    const id = uniqueId("late-header");
    await post("/v1/process/async", { text: "x y" }, { "X-Numaflow-Id": id });
    const read = await readSse(await call("/v1/process/sse", { headers: { "X-Numaflow-Id": id } }));
    expect(read.events.map((e) => e.data)).toEqual(['{"words":2,"unique":2,"top":[["x",1],["y",1]]}']);
  });

  it("streams a running run live: nothing before its result, then the result and the close", async ({ expect }) => {
    const id = uniqueId("live");
    await post("/pipelines/sleep/v1/process/async", { ms: 400 }, { "X-Numaflow-Id": id });
    const read = await readSse(await call(`/pipelines/sleep/v1/process/sse?id=${id}`));
    expect(read.events.map((e) => e.data)).toEqual(['{"slept":400}']);
    expect(read.closed).toBe(true);
  });

  it("resumes after Last-Event-ID without losing or repeating a result", async ({ expect }) => {
    const id = uniqueId("resume");
    await post("/pipelines/sentences/v1/process/sync", { text: "A. B. C. D." }, { "X-Numaflow-Id": id });
    const all = await readSse(await call(`/pipelines/sentences/v1/process/sse?id=${id}`));
    const [first, second, ...rest] = all.events;
    const resumed = await readSse(await call(`/pipelines/sentences/v1/process/sse?id=${id}`, { headers: { "Last-Event-ID": second!.id! } }));
    expect(resumed.events.map((e) => e.data)).toEqual(rest.map((e) => e.data));
    expect(first!.id).not.toBe(second!.id);
  });

  it("answers 204 to a client that resumes a finished run having seen everything, so EventSource stops", async ({ expect }) => {
    const id = uniqueId("seen-all");
    await post("/v1/process/sync", { text: "done" }, { "X-Numaflow-Id": id });
    const all = await readSse(await call(`/v1/process/sse?id=${id}`));
    const last = all.events.at(-1)!;
    const res = await call(`/v1/process/sse?id=${id}`, { headers: { "Last-Event-ID": last.id! } });
    expect(res.status).toBe(204);
  });

  it("answers 404 when subscribing to an id that has no run", async ({ expect }) => {
    const res = await call(`/v1/process/sse?id=${uniqueId("none")}`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error_code: "run_not_found" });
  });

  it("starts a run from an empty body when the id header names no run, as Numaflow publishes any body", async ({ expect }) => {
    const id = uniqueId("sse-empty");
    const res = await call("/pipelines/bytes-upper/v1/process/sse", { headers: { "X-Numaflow-Id": id } });
    expect(res.status).toBe(200);
    const read = await readSse(res);
    expect(read.closed).toBe(true);
    expect(read.events.map((e) => e.data)).toEqual([""]);
    // The same request again subscribes to that run (its stream replayed), not a second run.
    expect((await readSse(await call("/pipelines/bytes-upper/v1/process/sse", { headers: { "X-Numaflow-Id": id } }))).events.map((e) => e.data)).toEqual([""]);
    // A JSON pipeline refuses the empty body as it would on /sync.
    const json = await call("/v1/process/sse", { headers: { "X-Numaflow-Id": uniqueId("sse-empty-json") } });
    expect(json.status).toBe(400);
  });

  it("names a failure with a run_failed event before closing", async ({ expect }) => {
    const read = await readSse(await post("/pipelines/test-failing/v1/process/sse", { fail: true }));
    expect(read.events.map((e) => e.event)).toEqual(["run_failed"]);
    expect(JSON.parse(read.events[0]!.data)).toMatchObject({ code: "run_failed", step: "explode" });
  });
});
