/**
 * The `chat` example pipeline against the example model server (examples/model/server.mjs, started
 * by test/model/global-setup.ts on EDGESERVE_MODEL_URL): its streamed reply becomes the result, a
 * server that fails mid-stream or sends a malformed chunk fails the run with the model's URL and the
 * cause, and cancelling a run while `generate` streams aborts the request to the model server.
 * Faults are chosen by directives at the start of the prompt (`!drop=1 …`), and `!tag=<label>`
 * gives each test counters of its own on the model server, whatever other test files do with it.
 */
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { recordWhen } from "../helpers/runs";
import { readSse } from "../helpers/sse";
import { uniqueId } from "../helpers/unique";

const completions = `${env.EDGESERVE_MODEL_URL}/v1/chat/completions`;

interface RunBody {
  id: string;
  status: string;
  results?: unknown[];
  error?: { code: string; message: string; step?: string };
}

async function chat(prompt: string): Promise<{ status: number; body: RunBody }> {
  const res = await post("/v1/pipelines/chat/runs", { prompt });
  return { status: res.status, body: (await res.json()) as RunBody };
}

/** The model server's counters of the requests tagged `tag`. */
async function modelCounts(tag: string): Promise<{ open: number; aborted: number }> {
  return (await (await fetch(`${env.EDGESERVE_MODEL_URL}/_open?tag=${tag}`)).json()) as { open: number; aborted: number };
}

describe("chat", () => {
  it("answers the model's streamed reply and counts its pieces", async ({ expect }) => {
    const { status, body } = await chat("a b c");
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "completed", results: [{ text: "c b a", tokens: 3 }] });
  });

  it("trims the prompt, and refuses an empty one before any run starts", async ({ expect }) => {
    expect((await chat("  one   two  ")).body.results).toEqual([{ text: "two one", tokens: 2 }]);
    const empty = await post("/v1/pipelines/chat/runs", { prompt: "  \n " });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: "invalid_input" });
  });

  it("fails the run, naming the model server, when the server drops the connection mid-stream", async ({ expect }) => {
    const { body } = await chat("!drop=2 a b c d");
    expect(body).toMatchObject({ status: "failed", error: { code: "run_failed", step: "generate" } });
    expect(body.error?.message).toContain(`model server ${completions}: the stream broke off after 2 chunks`);
  });

  it("fails the run when the stream ends without [DONE]", async ({ expect }) => {
    const { body } = await chat("!truncate=1 a b c");
    expect(body.status).toBe("failed");
    expect(body.error?.message).toContain(`model server ${completions}: the stream ended after 1 chunks without [DONE]`);
  });

  it("fails the run on a chunk that is not JSON, and on JSON that is not a chunk", async ({ expect }) => {
    const garbage = await chat("!garbage=1 a b c");
    expect(garbage.body.status).toBe("failed");
    expect(garbage.body.error?.message).toContain(`model server ${completions}: sent a malformed chunk (not JSON): {"id":`);
    const malformed = await chat("!malformed=0 a b c");
    expect(malformed.body.status).toBe("failed");
    expect(malformed.body.error?.message).toMatch(/model server .*: sent a malformed chunk \(.*choices.*\)/);
  });

  it("fails the run with the server's status and message when it answers an error", async ({ expect }) => {
    const { body } = await chat("!status=503 a b c");
    expect(body).toMatchObject({ status: "failed", error: { step: "generate" } });
    expect(body.error?.message).toContain(`model server ${completions}: answered 503:`);
    expect(body.error?.message).toContain("on purpose");
  });

  it("aborts the request to the model server when the run is cancelled while generate streams", async ({ expect }) => {
    const tag = uniqueId("cancel");
    // Ten words, 500 ms apart: the reply would take five seconds.
    const res = await post("/v1/pipelines/chat/runs", { prompt: `!tag=${tag} !delay=500 a b c d e f g h i j` }, { Prefer: "respond-async" });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as RunBody;
    await vi.waitFor(async () => expect(await modelCounts(tag)).toEqual({ open: 1, aborted: 0 }), { timeout: 5000, interval: 20 });
    await recordWhen("chat", id, (r) => r.steps.generate?.status === "running");

    const cancelled = await call(`/v1/runs/${id}`, { method: "DELETE" });
    expect(await cancelled.json()).toMatchObject({ status: "cancelled" });
    await vi.waitFor(async () => expect(await modelCounts(tag)).toEqual({ open: 0, aborted: 1 }), { timeout: 3000, interval: 20 });
  });

  it("streams the reply: one step_delta per chunk of the model, in order, the deltas making the result's text", async ({ expect }) => {
    const { body } = await chat("one two three four");
    expect(body.results).toEqual([{ text: "four three two one", tokens: 4 }]);
    const stream = await readSse(await call(`/v1/pipelines/chat/runs/${body.id}/events`));
    const deltas = stream.events.filter((e) => e.event === "step_delta").map((e) => JSON.parse(e.data) as { step: string; index: number; delta: string });
    expect(deltas).toEqual([
      { step: "generate", index: 0, delta: "four", attempt: 1 },
      { step: "generate", index: 1, delta: " three", attempt: 1 },
      { step: "generate", index: 2, delta: " two", attempt: 1 },
      { step: "generate", index: 3, delta: " one", attempt: 1 },
    ]);
  });
});
