/**
 * Stream tickets against a real `wrangler dev` with a token configured (global-setup.ts): a browser's
 * way to follow a run. The run is started and the ticket minted with the bearer token; then a real
 * SSE client (eventsource-client) and a real WebSocket client follow with `?ticket=` alone, as
 * EventSource and WebSocket in a browser must.
 */
import { createEventSource, type EventSourceMessage } from "eventsource-client";
import { describe, it } from "vitest";
import WebSocket from "ws";
import { api, baseUrl, postJson, uniqueId } from "./helpers";

async function mint(pipeline: string, runId: string): Promise<{ ticket: string; expires_at: string }> {
  const res = await api(`/v1/pipelines/${pipeline}/runs/${encodeURIComponent(runId)}/stream-ticket`, { method: "POST" });
  if (res.status !== 200) throw new Error(`minting answered ${res.status}`);
  return (await res.json()) as { ticket: string; expires_at: string };
}

/** Reads with a real SSE client, no Authorization header, until `last` says the run has ended. */
async function follow(url: string, last: (event: EventSourceMessage) => boolean, initialLastEventId?: string): Promise<EventSourceMessage[]> {
  const events: EventSourceMessage[] = [];
  const source = createEventSource({ url, ...(initialLastEventId ? { initialLastEventId } : {}) });
  const stop = setTimeout(() => source.close(), 20_000);
  try {
    for await (const event of source) {
      events.push(event);
      if (last(event)) break;
    }
  } finally {
    clearTimeout(stop);
    source.close();
  }
  return events;
}

describe("following a run with a stream ticket", () => {
  it("refuses the stream without the ticket (the deployment has a token)", async ({ expect }) => {
    const run = (await (await postJson("/v1/pipelines/sleep/runs", { ms: 10 }, { prefer: "respond-async" })).json()) as { id: string };
    const res = await fetch(`${baseUrl()}/v1/pipelines/sleep/runs/${encodeURIComponent(run.id)}/events`);
    expect(res.status).toBe(401);
    await res.body?.cancel();
  });

  it("native events: a live run from start to end, then resumed after an event id, with the ticket alone", async ({ expect }) => {
    const run = (await (await postJson("/v1/pipelines/sentences/runs", { text: "One. Two? Three." }, { prefer: "respond-async" })).json()) as { id: string };
    const { ticket } = await mint("sentences", run.id);
    const url = `${baseUrl()}/v1/pipelines/sentences/runs/${encodeURIComponent(run.id)}/events?ticket=${encodeURIComponent(ticket)}`;
    const events = await follow(url, (e) => e.event === "run_completed");
    expect(events.at(-1)?.event).toBe("run_completed");
    expect(events.filter((e) => e.event === "result")).toHaveLength(3);
    // What EventSource does when it reconnects: the same URL, with Last-Event-ID.
    const rest = await follow(url, (e) => e.event === "run_completed", events[1]!.id);
    expect(rest.map((e) => e.id)).toEqual(events.slice(2).map((e) => e.id));
  });

  it("Numaflow's /sse subscribe form and ZenML's /stream/{job_id}", async ({ expect }) => {
    const id = uniqueId("e2e-ticket");
    await (await postJson("/pipelines/sleep/v1/process/async", { ms: 800 }, { "X-Numaflow-Id": id })).text();
    const numaflow = await mint("sleep", id);
    const data = await follow(`${baseUrl()}/pipelines/sleep/v1/process/sse?id=${id}&ticket=${encodeURIComponent(numaflow.ticket)}`, () => true);
    expect(data.map((e) => e.data)).toEqual(['{"slept":800}']);

    const submitted = (await (await postJson("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 800 } })).json()) as {
      job_id: string;
      metadata: { stream_url: string };
    };
    const zenml = await mint("sleep", submitted.job_id);
    const events = await follow(
      `${baseUrl()}${submitted.metadata.stream_url}?ticket=${encodeURIComponent(zenml.ticket)}`,
      (e) => e.event === "pipeline_completed",
    );
    expect(events.map((e) => e.event)).toEqual(["connected", "pipeline_started", "step_started", "progress_update", "step_completed", "pipeline_completed"]);
  });

  it("ZenML's WebSocket with a socket ticket and no header: the job takes the ticket's id, once", async ({ expect }) => {
    const res = await api("/pipelines/sentences/stream-ticket", { method: "POST" });
    const { ticket, job_id } = (await res.json()) as { ticket: string; job_id: string };
    const url = `${baseUrl().replace("http", "ws")}/pipelines/sentences/stream?ticket=${encodeURIComponent(ticket)}`;
    const socket = new WebSocket(url);
    const frames: { event_type: string }[] = [];
    socket.on("message", (data) => {
      frames.push(JSON.parse(String(data)) as { event_type: string });
    });
    const closed = new Promise<number>((resolve) => socket.on("close", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.on("open", () => resolve());
      socket.on("error", reject);
    });
    socket.send(JSON.stringify({ parameters: { text: "Hi. Why?" } }));
    expect(await closed).toBe(1000);
    expect(frames.at(-1)?.event_type).toBe("pipeline_completed");
    expect(await (await api(`/pipelines/sentences/jobs/${job_id}`)).json()).toMatchObject({ job_id, status: "completed" });

    const again = new WebSocket(url);
    // The refusal comes before any upgrade; ending the attempt then is this test's own doing.
    again.on("error", () => undefined);
    const refused = await new Promise<number>((resolve) =>
      again.on("unexpected-response", (request, response) => {
        resolve(response.statusCode ?? 0);
        request.destroy();
      }),
    );
    expect(refused).toBe(409);
  });
});
