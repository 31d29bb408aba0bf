/**
 * The `chat` pipeline end to end: `wrangler dev` started as `npm run dev` starts it, with the
 * example model server (examples/model/server.mjs) beside it on a port of its own, which the
 * Worker reaches through the EDGESERVE_MODEL_URL override.
 */
import { createEventSource } from "eventsource-client";
import { describe, it } from "vitest";
import { api, baseUrl, postJson, uniqueId } from "./helpers";

describe("chat over HTTP", () => {
  it("answers the example model's streamed reply", async ({ expect }) => {
    const res = await postJson("/v1/pipelines/chat/runs", { prompt: " a b c " });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "completed", results: [{ text: "c b a", tokens: 3 }] });
  });
});

describe("chat's reply streamed over HTTP", () => {
  it("brings the first delta to an SSE client long before the run completes (by the run's own event times)", async ({ expect }) => {
    // 24 words at the model's 25 ms pace: about 600 ms of streaming.
    const prompt = Array.from({ length: 24 }, (_, i) => `w${i}`).join(" ");
    const id = uniqueId("chat-stream");
    const started = await api(`/pipelines/chat/v1/process/async`, {
      method: "POST",
      body: JSON.stringify({ prompt }),
      headers: { "content-type": "application/json", "X-Numaflow-Id": id },
    });
    expect(started.status).toBe(200);
    const { ticket } = (await (await api(`/v1/pipelines/chat/runs/${id}/stream-ticket`, { method: "POST" })).json()) as { ticket: string };

    const received: { event: string; data: string; at: number }[] = [];
    const source = createEventSource({ url: `${baseUrl()}/v1/pipelines/chat/runs/${id}/events?ticket=${encodeURIComponent(ticket)}` });
    const stop = setTimeout(() => source.close(), 20_000);
    try {
      for await (const message of source) {
        received.push({ event: message.event ?? "message", data: message.data, at: Date.now() });
        if (message.event === "run_completed" || message.event === "run_failed") break;
      }
    } finally {
      clearTimeout(stop);
      source.close();
    }
    const deltas = received.filter((m) => m.event === "step_delta");
    expect(deltas).toHaveLength(24);
    expect(deltas.map((m) => (JSON.parse(m.data) as { delta: string }).delta).join("")).toBe(prompt.split(" ").reverse().join(" "));
    // The run's own times (the server's clock, the same machine): when generate started and the run ended.
    const at = (type: string) => Date.parse((JSON.parse(received.find((m) => m.event === type)!.data) as { at: string }).at);
    const generateStarted = Date.parse(
      (JSON.parse(received.find((m) => m.event === "step_started" && m.data.includes('"generate"'))!.data) as { at: string }).at,
    );
    const completed = at("run_completed");
    // The first delta reached the client in the first half of the streaming, not with the result.
    expect(deltas[0]!.at).toBeLessThan(generateStarted + (completed - generateStarted) / 2);
    expect(deltas[0]!.at).toBeLessThan(completed);
  });
});
