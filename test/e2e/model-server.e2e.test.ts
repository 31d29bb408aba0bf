/**
 * The example model server (examples/model/server.mjs) in Node, over loopback: OpenAI's streaming
 * format to the byte, a deterministic reply, its pace, its bearer key, its fault directives and its
 * counters; and the `chat` pipeline's `generate` step run as a plain function against it (the key
 * it sends, the deltas it emits).
 */
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, it, vi } from "vitest";
import { type ModelServer, startModelServer } from "../../examples/model/server.mjs";
import { generate } from "../../examples/pipelines/chat";
import type { StepContext } from "../../src/pipeline/definition";

let server: ModelServer;
let keyed: ModelServer;

beforeAll(async () => {
  server = await startModelServer({ port: 0, delayMs: 5 });
  keyed = await startModelServer({ port: 0, delayMs: 5, apiKey: "sk-test" });
});
afterAll(async () => {
  await server?.stop();
  await keyed?.stop();
});

function complete(base: string, body: Record<string, unknown>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    ...init,
    headers: { "content-type": "application/json", ...(init.headers as Record<string, string>) },
    body: JSON.stringify(body),
  });
}

const ask = (prompt: string, extra: Record<string, unknown> = {}) => ({ model: "any", messages: [{ role: "user", content: prompt }], stream: true, ...extra });

/** The `data:` payloads of an SSE body, in order. */
async function dataOf(res: Response): Promise<string[]> {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(await res.text());
  return data;
}

describe("example model server", () => {
  it("streams OpenAI chat.completion.chunks: one word each, then finish_reason stop and [DONE]", async ({ expect }) => {
    const res = await complete(server.url, ask("a b c"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const raw = await res.clone().text();
    // Every event is one `data: …` line and a blank line.
    expect(raw).toMatch(/^(data: [^\n]+\n\n)+$/);
    const data = await dataOf(res);
    expect(data.at(-1)).toBe("[DONE]");
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Record<string, unknown>);
    const [first] = chunks as [{ id: string; created: number }];
    expect(first.id).toMatch(/^chatcmpl-/);
    const chunk = (delta: object, finish_reason: string | null) => ({
      id: first.id,
      object: "chat.completion.chunk",
      created: first.created,
      model: "any",
      choices: [{ index: 0, delta, finish_reason }],
    });
    expect(chunks).toEqual([
      chunk({ role: "assistant", content: "c" }, null),
      chunk({ content: " b" }, null),
      chunk({ content: " a" }, null),
      chunk({}, "stop"),
    ]);
  });

  it("answers the same pieces to the same prompt, from the last user message, whatever its spacing", async ({ expect }) => {
    const pieces = async (messages: unknown[]) =>
      (await dataOf(await complete(server.url, { messages, stream: true })))
        .slice(0, -1)
        .map((d) => (JSON.parse(d) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? "");
    const once = await pieces([{ role: "user", content: "the quick  brown\tfox" }]);
    expect(once).toEqual(["fox", " brown", " quick", " the", ""]);
    expect(
      await pieces([
        { role: "system", content: "be brief" },
        { role: "user", content: "ignored" },
        { role: "assistant", content: "ok" },
        { role: "user", content: [{ type: "text", text: " the quick brown fox " }] },
      ]),
    ).toEqual(once);
  });

  it("waits its delay before each chunk, or a prompt's !delay", async ({ expect }) => {
    const started = Date.now();
    await (await complete(server.url, ask("!delay=40 a b c"))).text();
    // Three words and the final chunk, 40 ms apart.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 40);
  });

  it("answers a whole chat.completion without stream, and a usage chunk when asked", async ({ expect }) => {
    const whole = await complete(server.url, ask("a b c", { stream: false }));
    expect(await whole.json()).toMatchObject({
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: "c b a" }, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 },
    });
    const data = await dataOf(await complete(server.url, ask("a b", { stream_options: { include_usage: true } })));
    expect(JSON.parse(data.at(-2)!)).toMatchObject({ choices: [], usage: { completion_tokens: 2 } });
  });

  it("asks for its key when it has one, in OpenAI's error shape", async ({ expect }) => {
    for (const headers of [{}, { authorization: "Bearer wrong" }] as Record<string, string>[]) {
      const refused = await complete(keyed.url, ask("a"), { headers });
      expect(refused.status).toBe(401);
      expect(await refused.json()).toEqual({
        error: { message: "Incorrect API key provided.", type: "invalid_request_error", param: null, code: "invalid_api_key" },
      });
    }
    expect((await complete(keyed.url, ask("a"), { headers: { authorization: "Bearer sk-test" } })).status).toBe(200);
    const bad = await complete(server.url, { messages: [{ role: "system", content: "no user" }] });
    expect(bad.status).toBe(400);
  });

  it("fails on purpose as a prompt's directives say", async ({ expect }) => {
    const status = await complete(server.url, ask("!status=429 a"));
    expect(status.status).toBe(429);
    expect(await status.json()).toMatchObject({ error: { type: "server_error" } });

    const dropped = await complete(server.url, ask("!drop=1 a b c"));
    await expect(dropped.text()).rejects.toThrow();

    const truncated = await dataOf(await complete(server.url, ask("!truncate=2 a b c")));
    expect(truncated).toHaveLength(2);
    expect(truncated).not.toContain("[DONE]");

    const garbage = await dataOf(await complete(server.url, ask("!garbage=1 a b")));
    expect(garbage[1]).toBe('{"id":');
    const malformed = await dataOf(await complete(server.url, ask("!malformed=0 a")));
    expect(JSON.parse(malformed[0]!)).toMatchObject({ object: "chat.completion.chunk", choices: "oops" });
  });

  it("counts open streams and the ones the client abandoned, per tag too", async ({ expect }) => {
    const tag = `abort-${crypto.randomUUID()}`;
    const controller = new AbortController();
    const res = await complete(server.url, ask(`!tag=${tag} !delay=1000 a b c`), { signal: controller.signal });
    expect(res.status).toBe(200);
    const open = async () => (await fetch(`${server.url}/_open?tag=${tag}`)).json();
    expect(await open()).toEqual({ open: 1, aborted: 0 });
    controller.abort();
    await vi.waitFor(async () => expect(await open()).toEqual({ open: 0, aborted: 1 }), { timeout: 2000, interval: 10 });
    expect(server.stats(tag)).toMatchObject({ requests: 1, completed: 0, aborted: 1 });
    expect(await (await fetch(`${server.url}/_stats?tag=${tag}`)).json()).toEqual(server.stats(tag));
    expect(await (await fetch(`${server.url}/_stats?tag=nobody`)).json()).toMatchObject({ requests: 0 });
  });
});

describe("chat's generate step against the model server", () => {
  function context(env: Record<string, unknown>, deltas: string[] = []): StepContext {
    return { runId: "r", pipeline: "chat", step: "generate", headers: {}, signal: new AbortController().signal, emit: (d) => void deltas.push(d), env };
  }
  const run = (prompt: string, ctx: StepContext) => generate({ value: { prompt }, tags: [], keys: [] }, ctx);

  it("emits each piece as it arrives, sends the key, and returns the text and count", async ({ expect }) => {
    const deltas: string[] = [];
    const out = await run("one two three", context({ EDGESERVE_MODEL_URL: `${keyed.url}/`, EDGESERVE_MODEL_API_KEY: "sk-test" }, deltas));
    expect(out).toEqual({ value: { text: "three two one", tokens: 3 } });
    expect(deltas).toEqual(["three", " two", " one"]);
  });

  it("fails naming the model URL when the key is wrong or missing, or the URL unset", async ({ expect }) => {
    await expect(run("a", context({ EDGESERVE_MODEL_URL: keyed.url }))).rejects.toThrow(
      `model server ${keyed.url}/v1/chat/completions: answered 401: {"error":{"message":"Incorrect API key provided."`,
    );
    await expect(run("a", context({}))).rejects.toThrow("EDGESERVE_MODEL_URL is not set");
  });
});
