/**
 * The Numaflow surface end to end: a real `wrangler dev` (started like `npm run dev`), real HTTP,
 * a real SSE client (eventsource-client, which reconnects with Last-Event-ID as browsers do) and
 * node:http for Numaflow's GET-with-a-body. Auth is on for the whole suite.
 */
import { createEventSource, type EventSourceMessage } from "eventsource-client";
import { createParser } from "eventsource-parser";
import { describe, it, vi } from "vitest";
import { api, authHeader, baseUrl, getWithBody, postJson, uniqueId } from "./helpers";

const text = async (res: Response) => new TextDecoder().decode(await res.arrayBuffer());

/** Collects events with eventsource-client until the server ends the run's stream for good. */
async function collect(options: Parameters<typeof createEventSource>[0] & object): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  const source = createEventSource({
    ...(options as object),
    headers: { ...authHeader(), ...((options as { headers?: Record<string, string> }).headers ?? {}) },
  } as Parameters<typeof createEventSource>[0]);
  // The client closes itself when the server answers a reconnect with 204 (the run is over and
  // everything was seen); closing it ends the iterator. The timeout only bounds a broken run.
  const watch = setInterval(() => source.readyState === "closed" && source.close(), 50);
  const stop = setTimeout(() => source.close(), 15_000);
  try {
    for await (const event of source) events.push(event);
  } finally {
    clearInterval(watch);
    clearTimeout(stop);
  }
  return events;
}

describe("sync, async and fetch over HTTP", () => {
  it("answers sync word-stats with the exact result", async ({ expect }) => {
    const res = await postJson("/v1/process/sync", { text: "To be, or not to be: that is the question." });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-numaflow-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(await text(res)).toBe('{"words":10,"unique":8,"top":[["be",2],["to",2],["is",1],["not",1],["or",1]]}');
  });

  it("refuses a request without the bearer token with an empty 401", async ({ expect }) => {
    const res = await fetch(`${baseUrl()}/v1/process/sync`, { method: "POST", body: '{"text":"a"}' });
    expect(res.status).toBe(401);
    expect(await res.text()).toBe("");
  });

  it("splits sentences into several results with Numaflow's array headers", async ({ expect }) => {
    const res = await postJson("/pipelines/sentences/v1/process/sync", { text: "Où es-tu? Ici. Là-bas!" });
    expect(res.headers.get("numaflow-array-len")).toBe("3");
    const lengths = res.headers.get("numaflow-array-index-len")!.split(",").map(Number);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(bytes.length);
  });

  it("accepts async, answers in-progress, then the result, and traces the message path", async ({ expect }) => {
    const id = uniqueId("e2e-async");
    const receipt = await postJson("/pipelines/sleep/v1/process/async", { ms: 500 }, { "X-Numaflow-Id": id });
    expect(await receipt.json()).toMatchObject({ message: "Successfully published message", id, code: 200 });
    expect(await (await api(`/pipelines/sleep/v1/process/fetch?id=${id}`)).json()).toEqual({ status: "in-progress" });
    await vi.waitFor(async () => expect(await text(await api(`/pipelines/sleep/v1/process/fetch?id=${id}`))).toBe('{"slept":500}'), {
      timeout: 10_000,
      interval: 100,
    });
    const path = JSON.parse(await text(await api(`/pipelines/sleep/v1/process/status?id=${id}`))) as { edge_callbacks: unknown[] };
    expect(path.edge_callbacks).toHaveLength(2);
  });

  it("times out a slow sync call with 408 and the id, and the result is fetchable later", async ({ expect }) => {
    const id = uniqueId("e2e-408");
    const res = await postJson("/pipelines/sleep/v1/process/sync", { ms: 2500 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(408);
    expect(res.headers.get("x-numaflow-id")).toBe(id);
    await vi.waitFor(async () => expect(await text(await api(`/pipelines/sleep/v1/process/fetch?id=${id}`))).toBe('{"slept":2500}'), {
      timeout: 10_000,
      interval: 200,
    });
  });

  it("answers 409 to a duplicate id and 400 to an id with a dot", async ({ expect }) => {
    const id = uniqueId("e2e-dup");
    await postJson("/v1/process/sync", { text: "a" }, { "X-Numaflow-Id": id });
    expect((await postJson("/v1/process/async", { text: "b" }, { "X-Numaflow-Id": id })).status).toBe(409);
    expect((await postJson("/v1/process/sync", { text: "a" }, { "X-Numaflow-Id": "a.b" })).status).toBe(400);
  });

  it("answers JSON errors for bad input, unknown routes and wrong methods", async ({ expect }) => {
    const bad = await api("/v1/process/sync", { method: "POST", body: "{oops" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error_code: "malformed_json" });
    const big = await api("/v1/process/sync", { method: "POST", body: JSON.stringify({ text: "x".repeat(3_000_000) }) });
    expect(big.status).toBe(413);
    expect((await api("/pipelines/missing/v1/process/sync", { method: "POST", body: "{}" })).status).toBe(404);
    expect((await api("/nowhere")).status).toBe(404);
    const wrong = await api("/v1/process/async", { method: "PUT", body: "{}" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });
});

describe("SSE over HTTP", () => {
  it("streams results for a POST with a real SSE client, which stops after the run (204 on reconnect)", async ({ expect }) => {
    const id = uniqueId("e2e-sse");
    const events = await collect({
      url: `${baseUrl()}/pipelines/sentences/v1/process/sse`,
      method: "POST",
      body: JSON.stringify({ text: "One. Two? Three." }),
      headers: { "X-Numaflow-Id": id, "content-type": "application/json" },
    });
    expect(events).toHaveLength(3);
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
  });

  it("starts a run from a GET with a body, as Numaflow clients send it", async ({ expect }) => {
    const id = uniqueId("e2e-get-body");
    const res = await getWithBody("/v1/process/sse", JSON.stringify({ text: "get with body" }), { "X-Numaflow-Id": id });
    expect(res.statusCode).toBe(200);
    expect(res.headers["x-numaflow-id"]).toBe(id);
    const data: string[] = [];
    const parser = createParser({ onEvent: (event) => data.push(event.data) });
    for await (const chunk of res) parser.feed(String(chunk));
    expect(data).toEqual(['{"words":3,"unique":3,"top":[["body",1],["get",1],["with",1]]}']);
  });

  it("subscribes to an existing run by ?id= and resumes after Last-Event-ID", async ({ expect }) => {
    const id = uniqueId("e2e-sub");
    await postJson("/pipelines/sentences/v1/process/sync", { text: "A. B. C. D." }, { "X-Numaflow-Id": id });
    const all = await collect({ url: `${baseUrl()}/pipelines/sentences/v1/process/sse?id=${id}` });
    expect(all).toHaveLength(4);
    const rest = await collect({ url: `${baseUrl()}/pipelines/sentences/v1/process/sse?id=${id}`, initialLastEventId: all[1]!.id });
    expect(rest.map((e) => e.data)).toEqual(all.slice(2).map((e) => e.data));
  });

  it("sends heartbeats on an idle stream (interval overridden by EDGESERVE_SSE_HEARTBEAT_SECONDS=1)", async ({ expect }) => {
    const id = uniqueId("e2e-heartbeat");
    await postJson("/pipelines/sleep/v1/process/async", { ms: 3000 }, { "X-Numaflow-Id": id });
    const comments: string[] = [];
    const events = await collect({
      url: `${baseUrl()}/pipelines/sleep/v1/process/sse?id=${id}`,
      onComment: (comment) => comments.push(comment),
    } as Parameters<typeof createEventSource>[0] & object);
    expect(events.map((e) => e.data)).toEqual(['{"slept":3000}']);
    expect(comments.filter((c) => c.trim() === "ping").length).toBeGreaterThanOrEqual(2);
  });
});

describe("word-stats-journal (the journal run host) over HTTP", () => {
  const answer = '{"words":10,"unique":8,"top":[["be",2],["to",2],["is",1],["not",1],["or",1]]}';
  const body = { text: "To be, or not to be: that is the question." };

  it("answers sync, async then fetch, and SSE by id, as word-stats does", async ({ expect }) => {
    const sync = await postJson("/pipelines/word-stats-journal/v1/process/sync", body);
    expect(sync.status).toBe(200);
    expect(await text(sync)).toBe(answer);

    const id = uniqueId("e2e-journal");
    const receipt = await postJson("/pipelines/word-stats-journal/v1/process/async", body, { "X-Numaflow-Id": id });
    expect(receipt.status).toBe(200);
    await vi.waitFor(async () => expect(await text(await api(`/pipelines/word-stats-journal/v1/process/fetch?id=${id}`))).toBe(answer), {
      timeout: 5000,
      interval: 50,
    });
    const events = await collect({ url: `${baseUrl()}/pipelines/word-stats-journal/v1/process/sse?id=${id}` });
    expect(events.map((e) => e.data)).toEqual([answer]);
    // A second start with the same id is a duplicate, found in the same shard by the id alone.
    expect((await postJson("/pipelines/word-stats-journal/v1/process/sync", body, { "X-Numaflow-Id": id })).status).toBe(409);
  });
});
