/**
 * Stream tickets with tokens configured (as a Worker secret would add them): minted for an existing
 * run with the bearer token, they open that run's stream routes on every surface (Numaflow's
 * subscribe form of /sse, ZenML's /stream/{id}, the native events routes) and nothing else: not
 * another run, another pipeline, a start, a fetch, a cancel. Expired, tampered and rotated-out
 * tickets are refused. A socket ticket opens ZenML's WS /stream once, for the job id it carries.
 * Runs are started through the test Worker (no tokens, the same Run objects): a start through
 * `app.fetch` would wait out its admission block's window before its context settles.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { mintTicket, type StreamGrant } from "../../src/auth/stream-tickets";
import { call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { uniqueId } from "../helpers/unique";

const app = createApp();
const TOKENS = "first-token, second-token";
const bearer = { Authorization: "Bearer first-token" };

async function request(path: string, init: RequestInit = {}, tokens: string | undefined = TOKENS): Promise<Response> {
  const ctx = createExecutionContext();
  const bindings = tokens === undefined ? env : { ...env, EDGESERVE_AUTH_TOKENS: tokens };
  const res = await app.fetch(new Request(`http://edgeserve.test${path}`, init), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const authed = (path: string, init: RequestInit = {}) => request(path, { ...init, headers: { ...bearer, ...(init.headers as Record<string, string>) } });

interface TicketAnswer {
  ticket: string;
  expires_at: string;
}

async function ticketFor(pipeline: string, runId: string): Promise<TicketAnswer> {
  const res = await authed(`/v1/pipelines/${pipeline}/runs/${encodeURIComponent(runId)}/stream-ticket`, { method: "POST" });
  if (res.status !== 200) throw new Error(`minting answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as TicketAnswer;
}

const q = encodeURIComponent;

/** A finished Numaflow run of `pipeline` (the default pipeline at the root when `pipeline` is null). */
async function numaflowRun(pipeline: string | null, body = { text: "One. Two." }): Promise<string> {
  const id = uniqueId("tk");
  const prefix = pipeline === null ? "" : `/pipelines/${pipeline}`;
  const res = await post(`${prefix}/v1/process/sync`, body, { "X-Numaflow-Id": id });
  if (res.status !== 200) throw new Error(`sync answered ${res.status}`);
  return id;
}

/** An async ZenML job of `pipeline` (root: the default pipeline). */
async function zenmlJob(pipeline: string | null, parameters: Record<string, unknown>): Promise<string> {
  const prefix = pipeline === null ? "" : `/pipelines/${pipeline}`;
  const res = await post(`${prefix}/invoke?mode=async`, { parameters });
  return ((await res.json()) as { job_id: string }).job_id;
}

async function nativeRun(pipeline: string, input: unknown): Promise<string> {
  const res = await post(`/v1/pipelines/${pipeline}/runs`, input, { prefer: "respond-async" });
  return ((await res.json()) as { id: string }).id;
}

describe("minting a run's stream ticket", () => {
  it("answers an opaque ticket, without the token, valid past the run's timeout by five minutes and for at most a day", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const before = Date.now();
    const res = await authed(`/v1/pipelines/sentences/runs/${id}/stream-ticket`, { method: "POST" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as TicketAnswer;
    expect(Object.keys(body).sort()).toEqual(["expires_at", "ticket"]);
    expect(body.ticket).not.toContain("first-token");
    expect(atob(body.ticket.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).not.toContain("token");
    expect(body.expires_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    const expires = Date.parse(body.expires_at);
    // The deployment's run timeout is 300 s (wrangler.toml's default).
    expect(expires).toBeGreaterThanOrEqual(before + (300 + 300) * 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 86_400_000);
  });

  it("lasts past a ZenML job's own longer timeout", async ({ expect }) => {
    const job = await zenmlJob("sleep", { ms: 0 });
    const res = await post("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 0 }, timeout: 3600 });
    const long = ((await res.json()) as { job_id: string }).job_id;
    const short = Date.parse((await ticketFor("sleep", job)).expires_at);
    const longer = Date.parse((await ticketFor("sleep", long)).expires_at);
    expect(longer - short).toBeGreaterThan(3000 * 1000);
  });

  it("answers 404 run_not_found for a missing run, pipeline_not_found for a missing pipeline, run_expired after retention", async ({ expect }) => {
    const missing = await authed(`/v1/pipelines/sentences/runs/${uniqueId("nope")}/stream-ticket`, { method: "POST" });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "run_not_found" });
    const id = await numaflowRun("sentences");
    const otherPipeline = await authed(`/v1/pipelines/word-stats/runs/${id}/stream-ticket`, { method: "POST" });
    expect(otherPipeline.status).toBe(404);
    const noPipeline = await authed(`/v1/pipelines/no-such-pipeline/runs/${id}/stream-ticket`, { method: "POST" });
    expect(noPipeline.status).toBe(404);
    expect(await noPipeline.json()).toMatchObject({ code: "pipeline_not_found" });

    const shortLived = await post("/v1/pipelines/test-short-retention/runs", { a: 1 });
    const shortId = ((await shortLived.json()) as { id: string }).id;
    await vi.waitFor(
      async () => {
        const res = await call(`/v1/pipelines/test-short-retention/runs/${q(shortId)}`);
        if (res.status !== 404) throw new Error(`still ${res.status}`);
      },
      { timeout: 8000, interval: 100 },
    );
    const expired = await authed(`/v1/pipelines/test-short-retention/runs/${q(shortId)}/stream-ticket`, { method: "POST" });
    expect(expired.status).toBe(404);
    expect(await expired.json()).toMatchObject({ code: "run_expired" });
  });

  it("needs the bearer token: none, or a ticket in its place, is 401", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const path = `/v1/pipelines/sentences/runs/${id}/stream-ticket`;
    expect((await request(path, { method: "POST" })).status).toBe(401);
    const { ticket } = await ticketFor("sentences", id);
    expect((await request(`${path}?ticket=${q(ticket)}`, { method: "POST" })).status).toBe(401);
    expect((await request(`/pipelines/sentences/stream-ticket?ticket=${q(ticket)}`, { method: "POST" })).status).toBe(401);
  });
});

describe("a run ticket opens every stream route of its run", () => {
  it("Numaflow GET /v1/process/sse?id= (subscribe form), under /pipelines/<name> and at the root", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const { ticket } = await ticketFor("sentences", id);
    const res = await request(`/pipelines/sentences/v1/process/sse?id=${id}&ticket=${q(ticket)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-numaflow-id")).toBe(id);
    const read = await readSse(res);
    expect(read.closed).toBe(true);
    expect(read.events).toHaveLength(2);

    const rootId = await numaflowRun(null, { text: "a b a" });
    const rootTicket = (await ticketFor("word-stats", rootId)).ticket;
    const root = await request(`/v1/process/sse?id=${rootId}&ticket=${q(rootTicket)}`);
    expect(root.status).toBe(200);
    expect((await readSse(root)).events.map((e) => e.data)).toEqual(['{"words":3,"unique":2,"top":[["a",2],["b",1]]}']);
  });

  it("ZenML GET /stream/{job_id}, under /pipelines/<name> and at the root", async ({ expect }) => {
    const job = await zenmlJob("sentences", { text: "A. B." });
    const { ticket } = await ticketFor("sentences", job);
    const res = await request(`/pipelines/sentences/stream/${job}?ticket=${q(ticket)}`);
    expect(res.status).toBe(200);
    const read = await readSse(res);
    expect(read.events.at(-1)?.event).toBe("pipeline_completed");

    const rootJob = await zenmlJob(null, { text: "x" });
    const rootTicket = (await ticketFor("word-stats", rootJob)).ticket;
    const root = await request(`/stream/${rootJob}?ticket=${q(rootTicket)}`);
    expect(root.status).toBe(200);
    expect((await readSse(root)).events.at(-1)?.event).toBe("pipeline_completed");
  });

  it("the native events routes, pipeline-scoped and by run id, live and resumed with Last-Event-ID", async ({ expect }) => {
    const id = await nativeRun("sleep", { ms: 300 });
    const { ticket } = await ticketFor("sleep", id);
    const live = await request(`/v1/pipelines/sleep/runs/${q(id)}/events?ticket=${q(ticket)}`);
    expect(live.status).toBe(200);
    const events = (await readSse(live)).events;
    expect(events.at(-1)?.event).toBe("run_completed");
    const byId = await request(`/v1/runs/${q(id)}/events?ticket=${q(ticket)}`, { headers: { "Last-Event-ID": events[0]!.id! } });
    expect(byId.status).toBe(200);
    expect((await readSse(byId)).events.map((e) => e.id)).toEqual(events.slice(1).map((e) => e.id));
  });

  it("the native events route by run id, for a Numaflow run, at once (the ticket names the pipeline)", async ({ expect }) => {
    const id = uniqueId("tk-now");
    await post("/pipelines/sleep/v1/process/async", { ms: 200 }, { "X-Numaflow-Id": id });
    const { ticket } = await ticketFor("sleep", id);
    const res = await request(`/v1/runs/${id}/events?ticket=${q(ticket)}`);
    expect(res.status).toBe(200);
    expect((await readSse(res)).events.at(-1)?.event).toBe("run_completed");
  });
});

describe("GET /v1/pipelines/{name}/runs/{id}/events", () => {
  it("goes straight to the Run object: streams Numaflow and ZenML runs the run index does not list (yet)", async ({ expect }) => {
    // test-unindexed keeps its runs out of the index: /v1/runs/{id}/events never finds them.
    const id = uniqueId("tk-scoped");
    await post("/pipelines/test-unindexed/v1/process/async", { a: 1 }, { "X-Numaflow-Id": id });
    expect((await authed(`/v1/runs/${id}/events`)).status).toBe(404);
    const numaflow = await authed(`/v1/pipelines/test-unindexed/runs/${id}/events`);
    expect(numaflow.status).toBe(200);
    expect((await readSse(numaflow)).events.at(-1)?.event).toBe("run_completed");
    const job = await zenmlJob("sleep", { ms: 200 });
    const zenml = await authed(`/v1/pipelines/sleep/runs/${job}/events`);
    expect(zenml.status).toBe(200);
    expect((await readSse(zenml)).events.at(-1)?.event).toBe("run_completed");
  });

  it("answers 404 for a missing run and a missing pipeline, 401 without a token", async ({ expect }) => {
    const missing = await authed(`/v1/pipelines/sleep/runs/${uniqueId("nope")}/events`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: "run_not_found" });
    expect(await (await authed("/v1/pipelines/nope/runs/x/events")).json()).toMatchObject({ code: "pipeline_not_found" });
    expect((await request("/v1/pipelines/sleep/runs/x/events")).status).toBe(401);
  });

  it("is in the OpenAPI document with its Last-Event-ID header and the ticket scheme, next to the ticket route", async ({ expect }) => {
    const doc = (await (await authed("/openapi.json")).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string; in: string }[]; security?: unknown[] }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    const events = doc.paths["/v1/pipelines/{name}/runs/{id}/events"]!.get!;
    expect(events.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: "last-event-id", in: "header" }), expect.objectContaining({ name: "id", in: "path" })]),
    );
    expect(events.security).toEqual([{ bearer: [] }, { ticket: [] }]);
    expect(doc.components.securitySchemes.ticket).toMatchObject({ type: "apiKey", in: "query", name: "ticket" });
    expect(doc.paths["/v1/pipelines/{name}/runs/{id}/stream-ticket"]!.post).toBeDefined();
  });
});

describe("a run ticket opens nothing else", () => {
  it("not another run's stream, on any surface", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const other = await numaflowRun("sentences");
    const { ticket } = await ticketFor("sentences", id);
    const t = q(ticket);
    for (const path of [
      `/pipelines/sentences/v1/process/sse?id=${other}&ticket=${t}`,
      `/pipelines/sentences/stream/${other}?ticket=${t}`,
      `/v1/pipelines/sentences/runs/${other}/events?ticket=${t}`,
      `/v1/runs/${other}/events?ticket=${t}`,
    ]) {
      expect((await request(path)).status, path).toBe(401);
    }
    // The id header names the run the subscription reads; the query's id does not count then.
    const viaHeader = await request(`/pipelines/sentences/v1/process/sse?id=${id}&ticket=${t}`, { headers: { "X-Numaflow-Id": other } });
    expect(viaHeader.status).toBe(401);
  });

  it("not the run of the same id in another pipeline", async ({ expect }) => {
    const id = uniqueId("tk-twin");
    for (const pipeline of ["sentences", "word-stats"]) {
      await post(`/pipelines/${pipeline}/v1/process/sync`, { text: "a" }, { "X-Numaflow-Id": id });
    }
    const { ticket } = await ticketFor("sentences", id);
    const t = q(ticket);
    for (const path of [
      `/pipelines/word-stats/v1/process/sse?id=${id}&ticket=${t}`,
      `/v1/process/sse?id=${id}&ticket=${t}`,
      `/pipelines/word-stats/stream/${id}?ticket=${t}`,
      `/stream/${id}?ticket=${t}`,
      `/v1/pipelines/word-stats/runs/${id}/events?ticket=${t}`,
    ]) {
      expect((await request(path)).status, path).toBe(401);
    }
  });

  it("not a start, a fetch, a status, a record, a result, a cancel or anything else of its own run", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const job = await zenmlJob("sentences", { text: "x" });
    const native = await nativeRun("sentences", { text: "y" });
    const tn = q((await ticketFor("sentences", id)).ticket);
    const tj = q((await ticketFor("sentences", job)).ticket);
    const tv = q((await ticketFor("sentences", native)).ticket);
    const start = JSON.stringify({ text: "z" });
    const refused: [string, RequestInit][] = [
      // Numaflow: starting a stream (a body) with the ticket's own id, other routes of the run.
      [`/pipelines/sentences/v1/process/sse?ticket=${tn}`, { method: "POST", body: start, headers: { "X-Numaflow-Id": id } }],
      [`/pipelines/sentences/v1/process/sse?id=${id}&ticket=${tn}`, { method: "POST", body: start }],
      [`/pipelines/sentences/v1/process/sync?ticket=${tn}`, { method: "POST", body: start }],
      [`/pipelines/sentences/v1/process/async?ticket=${tn}`, { method: "POST", body: start }],
      [`/pipelines/sentences/v1/process/fetch?id=${id}&ticket=${tn}`, {}],
      [`/pipelines/sentences/v1/process/status?id=${id}&ticket=${tn}`, {}],
      [`/pipelines/sentences/v1/process/message?id=${id}&ticket=${tn}`, {}],
      // ZenML.
      [`/pipelines/sentences/jobs/${job}?ticket=${tj}`, {}],
      [`/pipelines/sentences/jobs/${job}/cancel?ticket=${tj}`, { method: "POST" }],
      [`/pipelines/sentences/jobs?ticket=${tj}`, {}],
      [`/pipelines/sentences/invoke?ticket=${tj}`, { method: "POST", body: JSON.stringify({ parameters: { text: "z" } }) }],
      [`/pipelines/sentences/stream?ticket=${tj}`, { headers: { Upgrade: "websocket" } }],
      [`/pipelines/sentences/info?ticket=${tj}`, {}],
      [`/pipelines/sentences/metrics?ticket=${tj}`, {}],
      // Native.
      [`/v1/runs/${q(native)}?ticket=${tv}`, {}],
      [`/v1/runs/${q(native)}/result?ticket=${tv}`, {}],
      [`/v1/runs/${q(native)}?ticket=${tv}`, { method: "DELETE" }],
      [`/v1/pipelines/sentences/runs/${q(native)}?ticket=${tv}`, {}],
      [`/v1/pipelines/sentences/runs/${q(native)}/cancel?ticket=${tv}`, { method: "POST" }],
      [`/v1/pipelines/sentences/runs?ticket=${tv}`, { method: "POST", body: start }],
      [`/v1/pipelines?ticket=${tv}`, {}],
      [`/openapi.json?ticket=${tv}`, {}],
      [`/livez?ticket=${tv}`, {}],
    ];
    for (const [path, init] of refused) {
      expect((await request(path, init)).status, `${init.method ?? "GET"} ${path}`).toBe(401);
    }
    // Nothing was started or cancelled by any of it.
    const record = (await (await authed(`/v1/pipelines/sentences/runs/${q(native)}`)).json()) as { status: string };
    expect(record.status).not.toBe("cancelled");
  });

  it("not once expired", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const grant: Omit<StreamGrant, "expiresAt"> = { kind: "run", pipeline: "sentences", runId: id };
    const expired = await mintTicket("first-token", grant, new Date(Date.now() - 1000));
    expect((await request(`/pipelines/sentences/v1/process/sse?id=${id}&ticket=${q(expired.ticket)}`)).status).toBe(401);
    const fresh = await mintTicket("first-token", grant, new Date(Date.now() + 60_000));
    expect((await request(`/pipelines/sentences/v1/process/sse?id=${id}&ticket=${q(fresh.ticket)}`)).status).toBe(200);
  });

  it("not tampered with: a changed signature, a payload for another run, garbage", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const other = await numaflowRun("sentences");
    const { ticket } = await ticketFor("sentences", id);
    const [version, payload, signature] = ticket.split(".") as [string, string, string];
    const flipped = `${version}.${payload}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`;
    const decoded = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
    const forged = btoa(JSON.stringify({ ...decoded, r: other }))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    const cases: [string, string][] = [
      [flipped, id],
      [`${version}.${forged}.${signature}`, other],
      ["not-a-ticket", id],
      [`${version}.${payload}`, id],
      ["", id],
    ];
    for (const [bad, runId] of cases) {
      expect((await request(`/pipelines/sentences/v1/process/sse?id=${runId}&ticket=${q(bad)}`)).status, bad).toBe(401);
    }
  });

  it("not after its token is rotated out; still while that token is configured", async ({ expect }) => {
    const id = await numaflowRun("sentences");
    const { ticket } = await ticketFor("sentences", id);
    const path = `/pipelines/sentences/v1/process/sse?id=${id}&ticket=${q(ticket)}`;
    expect((await request(path, {}, "second-token, third-token")).status).toBe(401);
    expect((await request(path, {}, "third-token")).status).toBe(401);
    expect((await request(path, {}, "third-token, first-token")).status).toBe(200);
    // A ticket minted while no token was configured opens nothing once tokens are.
    const open = (await (await request(`/v1/pipelines/sentences/runs/${id}/stream-ticket`, { method: "POST" }, undefined)).json()) as TicketAnswer;
    expect((await request(`/pipelines/sentences/v1/process/sse?id=${id}&ticket=${q(open.ticket)}`)).status).toBe(401);
  });
});

describe("socket tickets: ZenML's WS /stream from a browser", () => {
  async function socketTicket(pipeline: string): Promise<TicketAnswer & { job_id: string }> {
    const res = await authed(`/pipelines/${pipeline}/stream-ticket`, { method: "POST" });
    if (res.status !== 200) throw new Error(`minting answered ${res.status}`);
    return (await res.json()) as TicketAnswer & { job_id: string };
  }

  it("opens one WebSocket whose run takes the ticket's job id; the ticket then opens nothing more", async ({ expect }) => {
    const before = Date.now();
    const minted = await socketTicket("sentences");
    expect(Date.parse(minted.expires_at) - before).toBeLessThanOrEqual(61_000);
    expect(Date.parse(minted.expires_at) - before).toBeGreaterThanOrEqual(59_000);
    const path = `/pipelines/sentences/stream?ticket=${q(minted.ticket)}`;
    const res = await request(path, { headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const socket = res.webSocket!;
    socket.accept();
    const frames: Record<string, unknown>[] = [];
    const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
    socket.addEventListener("message", (e) => {
      frames.push(JSON.parse(e.data as string) as Record<string, unknown>);
    });
    socket.send(JSON.stringify({ parameters: { text: "Hi. Why?" } }));
    expect(await closed).toBe(1000);
    expect(frames.at(-1)).toMatchObject({ event_type: "pipeline_completed" });
    const job = await authed(`/pipelines/sentences/jobs/${minted.job_id}`);
    expect(job.status).toBe(200);
    expect(await job.json()).toMatchObject({ job_id: minted.job_id, status: "completed" });

    const again = await request(path, { headers: { Upgrade: "websocket" } });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ code: "run_id_in_use" });
    // It is no run ticket either.
    expect((await request(`/pipelines/sentences/stream/${minted.job_id}?ticket=${q(minted.ticket)}`)).status).toBe(401);
  });

  it("is refused for another pipeline, once expired, and a run ticket is no socket ticket", async ({ expect }) => {
    const minted = await socketTicket("sentences");
    const upgrade = { headers: { Upgrade: "websocket" } };
    expect((await request(`/pipelines/word-stats/stream?ticket=${q(minted.ticket)}`, upgrade)).status).toBe(401);
    expect((await request(`/stream?ticket=${q(minted.ticket)}`, upgrade)).status).toBe(401);
    const expired = await mintTicket("first-token", { kind: "socket", pipeline: "sentences", runId: uniqueId("job") }, new Date(Date.now() - 1000));
    // Even with the bearer token: the ticket names the job, so it must be valid.
    expect((await authed(`/pipelines/sentences/stream?ticket=${q(expired.ticket)}`, upgrade)).status).toBe(401);
    const id = await numaflowRun("sentences");
    const runTicket = (await ticketFor("sentences", id)).ticket;
    expect((await request(`/pipelines/sentences/stream?ticket=${q(runTicket)}`, upgrade)).status).toBe(401);
    expect((await request("/pipelines/sentences/stream-ticket", { method: "POST" })).status).toBe(401);
  });
});
