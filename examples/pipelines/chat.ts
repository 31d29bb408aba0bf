/**
 * `chat`: prepare → generate → finish. `generate` asks an OpenAI-compatible model server
 * (EDGESERVE_MODEL_URL; examples/model/server.mjs under `npm run dev`) for a streamed chat
 * completion and passes each piece of the reply on with `context.emit` as it arrives.
 * Result: `{"text": <the whole reply>, "tokens": <the number of pieces>}`.
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import * as z from "zod";
import type { StepFunction } from "../../src/pipeline/definition";

/** The model asked for when EDGESERVE_MODEL_NAME is unset (the example server answers to any name). */
export const DEFAULT_MODEL = "edgeserve-reverse";

export const promptInput = z.strictObject({ prompt: z.string().max(20_000).regex(/\S/, "prompt must not be empty") });

/** The part of OpenAI's `chat.completion.chunk` this step reads. */
const chunkSchema = z.object({
  object: z.literal("chat.completion.chunk"),
  choices: z.array(z.object({ delta: z.object({ content: z.string().nullish() }), finish_reason: z.string().nullable() })),
});

export const prepare: StepFunction = (message) => {
  const { prompt } = promptInput.parse(message.value);
  return { value: { prompt: prompt.trim() } };
};

export const generate: StepFunction = async (message, context) => {
  const { prompt } = promptInput.parse(message.value);
  const { EDGESERVE_MODEL_URL: base, EDGESERVE_MODEL_API_KEY: key, EDGESERVE_MODEL_NAME: model } = context.env;
  if (typeof base !== "string" || base === "") throw new Error("EDGESERVE_MODEL_URL is not set: chat needs an OpenAI-compatible model server");
  const url = `${base.replace(/\/+$/, "")}/v1/chat/completions`;
  const failed = (cause: string) => new ModelError(`model server ${url}: ${cause}`);

  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ model: model || DEFAULT_MODEL, messages: [{ role: "user", content: prompt }], stream: true }),
      signal: context.signal,
    });
  } catch (error) {
    throw failed(`the request failed: ${reason(error)}`);
  }
  if (!res.ok || !res.body) throw failed(`answered ${res.status}: ${(await res.text()).slice(0, 300)}`);

  let text = "";
  let tokens = 0;
  try {
    for await (const event of res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())) {
      if (event.data === "[DONE]") return { value: { text, tokens } };
      const json = parseJson(event.data);
      const chunk = chunkSchema.safeParse(json);
      if (!chunk.success) {
        const why = json === undefined ? "not JSON" : z.prettifyError(chunk.error).replaceAll("\n", " ");
        throw failed(`sent a malformed chunk (${why}): ${event.data.slice(0, 200)}`);
      }
      const content = chunk.data.choices[0]?.delta.content;
      if (content) {
        context.emit(content);
        text += content;
        tokens++;
      }
    }
  } catch (error) {
    throw error instanceof ModelError ? error : failed(`the stream broke off after ${tokens} chunks: ${reason(error)}`);
  }
  throw failed(`the stream ended after ${tokens} chunks without [DONE]`);
};

class ModelError extends Error {}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
