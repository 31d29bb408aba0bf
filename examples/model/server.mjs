#!/usr/bin/env node
// An example model server for the `chat` pipeline (Node, loopback only, no network): an
// OpenAI-compatible `POST /v1/chat/completions` whose reply is deterministic: the last user
// message's whitespace-separated words in reverse order. With `stream: true` it answers
// `chat.completion.chunk`s as server-sent events, one word per chunk (the first chunk's content is
// the first word, each later one a space and the next word), one every EDGESERVE_MODEL_DELAY_MS
// (25 ms by default), then a chunk with `finish_reason: "stop"` and `data: [DONE]`.
//
// `npm run dev` starts it on 127.0.0.1:9092 unless EDGESERVE_MODEL_URL points `chat` elsewhere;
// `node examples/model/server.mjs --port 9093 [--api-key KEY]` starts one by hand (the key
// defaults to EDGESERVE_MODEL_API_KEY; without one any Authorization is accepted).
//
// Test hooks: directives at the start of the prompt, taken out of the reply, change one request:
//   !delay=<ms>      wait <ms> between chunks instead of the server's delay
//   !status=<code>   answer <code> with an OpenAI error body instead of a reply
//   !drop=<n>        drop the connection after <n> content chunks (no final chunk, no [DONE])
//   !truncate=<n>    end the response cleanly after <n> content chunks (no final chunk, no [DONE])
//   !garbage=<n>     after <n> content chunks send `data: {"id":` (not JSON), then go on
//   !malformed=<n>   after <n> content chunks send JSON that is not a chunk (`choices` a string), then go on
//   !tag=<label>     count this request under <label> too (letters, digits, '-', '_'), apart from others
// and two routes report on it:
//   GET /_open       {"open": n, "aborted": n}: streams in progress, and those the client abandoned
//   GET /_stats      every counter (see `stats()` below)
// both of every request, or with `?tag=<label>` of those tagged <label> alone.
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";

export const DEFAULT_MODEL_PORT = 9092;
export const DEFAULT_MODEL_DELAY_MS = 25;
export const MODEL_NAME = "edgeserve-reverse";

const DIRECTIVE = /^!(?:(delay|status|drop|truncate|garbage|malformed)=(\d+)|(tag)=([\w-]+))$/;

/**
 * The reply to a prompt, and the directives found at its start.
 * @param {string} prompt
 */
export function replyTo(prompt) {
  const words = prompt.split(/\s+/).filter((word) => word.length > 0);
  /** @type {{ delay?: number, status?: number, drop?: number, truncate?: number, garbage?: number, malformed?: number, tag?: string }} */
  const directives = {};
  while (words.length > 0) {
    const match = DIRECTIVE.exec(words[0]);
    if (!match) break;
    if (match[3]) directives.tag = match[4];
    else directives[match[1]] = Number(match[2]);
    words.shift();
  }
  return { words: words.reverse(), directives };
}

/** The text of the last user message: a string, or the text parts of a content array. */
function lastUserText(messages) {
  if (!Array.isArray(messages)) return undefined;
  const last = messages.findLast((m) => m && typeof m === "object" && m.role === "user");
  if (!last) return undefined;
  if (typeof last.content === "string") return last.content;
  if (Array.isArray(last.content)) {
    return last.content
      .filter((part) => part?.type === "text" && typeof part.text === "string")
      .map((part) => part.text)
      .join(" ");
  }
  return undefined;
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** OpenAI's error envelope. */
function sendError(res, status, message, type = "invalid_request_error", code = null) {
  sendJson(res, status, { error: { message, type, param: null, code } });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** Resolves after `ms`, or at once (false) when `signal` aborts. */
function pause(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Starts the model server on 127.0.0.1.
 * @param {{ port?: number, delayMs?: number, apiKey?: string, log?: (line: string) => void, hold?: (tag: string) => Promise<void>, onChunk?: (tag: string, index: number, at: number) => void }} [options]
 *   port: 0 picks a free one; delayMs: between chunks (default EDGESERVE_MODEL_DELAY_MS, else 25);
 *   apiKey: when set, requests must send `Authorization: Bearer <apiKey>`. For a caller that runs
 *   the server in its own process (npm run bench:fanout): hold(tag) is awaited before a tagged
 *   request's first chunk, and onChunk(tag, index, at) is told when each content chunk was sent.
 * @returns {Promise<{ url: string, port: number, stop: () => Promise<void>, stats: (tag?: string) => ModelServerStats }>}
 *   stats(): the counters of every request; stats(tag): those of the requests tagged `!tag=<tag>`.
 *
 * @typedef {{ open: number, requests: number, completed: number, aborted: number, faults: number, rejected: number }} ModelServerStats
 *   open: streams in progress; requests: chat completions asked for; completed: answered in full;
 *   aborted: streams the client abandoned before the end; faults: requests a test hook failed on
 *   purpose; rejected: refused (401, 400).
 */
export function startModelServer({ port = DEFAULT_MODEL_PORT, delayMs, apiKey, log = () => undefined, hold, onChunk } = {}) {
  const defaultDelay = delayMs ?? Number(process.env.EDGESERVE_MODEL_DELAY_MS ?? DEFAULT_MODEL_DELAY_MS);
  if (!Number.isFinite(defaultDelay) || defaultDelay < 0) throw new Error(`the model server's delay must be a number of milliseconds ≥ 0, not ${defaultDelay}`);
  const newCounts = () => ({ open: 0, requests: 0, completed: 0, aborted: 0, faults: 0, rejected: 0 });
  const counts = newCounts();
  /** @type {Map<string, ReturnType<typeof newCounts>>} */
  const tagged = new Map();
  let sequence = 0;

  async function complete(req, res) {
    /** @type {ReturnType<typeof newCounts>[]} */
    const tallies = [counts];
    const count = (field, by = 1) => {
      for (const tally of tallies) tally[field] += by;
    };
    count("requests");
    if (apiKey && req.headers.authorization !== `Bearer ${apiKey}`) {
      count("rejected");
      return sendError(res, 401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key");
    }
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      count("rejected");
      return sendError(res, 400, "The request body is not valid JSON.");
    }
    const prompt = lastUserText(body?.messages);
    if (prompt === undefined) {
      count("rejected");
      return sendError(res, 400, "`messages` must hold a user message with text content.");
    }
    const { words, directives } = replyTo(prompt);
    if (directives.tag !== undefined) {
      if (!tagged.has(directives.tag)) tagged.set(directives.tag, newCounts());
      const tally = tagged.get(directives.tag);
      tally.requests++;
      tallies.push(tally);
    }
    if (directives.status !== undefined) {
      count("faults");
      return sendError(res, directives.status, `The model server answered ${directives.status} on purpose (!status).`, "server_error");
    }
    const id = `chatcmpl-${++sequence}`;
    const created = Math.floor(Date.now() / 1000);
    const model = typeof body.model === "string" && body.model ? body.model : MODEL_NAME;
    const pieces = words.map((word, i) => (i === 0 ? word : ` ${word}`));
    const usage = { prompt_tokens: prompt.split(/\s+/).filter(Boolean).length, completion_tokens: pieces.length, total_tokens: 0 };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;

    if (body.stream !== true) {
      count("completed");
      return sendJson(res, 200, {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [{ index: 0, message: { role: "assistant", content: pieces.join("") }, finish_reason: "stop" }],
        usage,
      });
    }

    // Streaming: the client abandoning the response closes it before it ended.
    const gone = new AbortController();
    count("open");
    let settled = false;
    const settle = (outcome) => {
      if (settled) return;
      settled = true;
      count("open", -1);
      count(outcome);
    };
    res.on("close", () => {
      gone.abort();
      if (!res.writableEnded) settle("aborted");
    });
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.flushHeaders();
    const send = (data) => res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    const chunk = (delta, finishReason = null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finishReason }],
    });
    const delay = directives.delay ?? defaultDelay;
    if (hold && directives.tag !== undefined) await hold(directives.tag);

    for (let i = 0; i <= pieces.length; i++) {
      if (directives.drop === i) {
        // When the next chunk is due (the ones sent are on their way by then: destroy drops unsent data).
        if (!(await pause(delay, gone.signal))) return;
        settle("faults");
        log(`[model] ${id}: dropping the connection after ${i} chunks (!drop)`);
        res.socket?.destroy();
        return;
      }
      if (directives.truncate === i) {
        settle("faults");
        res.end();
        return;
      }
      if (directives.garbage === i) send('{"id":');
      if (directives.malformed === i) send({ id, object: "chat.completion.chunk", created, model, choices: "oops" });
      if (i === pieces.length) break;
      if (!(await pause(delay, gone.signal))) return;
      send(chunk(i === 0 ? { role: "assistant", content: pieces[i] } : { content: pieces[i] }));
      if (onChunk && directives.tag !== undefined) onChunk(directives.tag, i, Date.now());
    }
    if (!(await pause(delay, gone.signal))) return;
    send(chunk({}, "stop"));
    if (body.stream_options?.include_usage === true) send({ id, object: "chat.completion.chunk", created, model, choices: [], usage });
    send("[DONE]");
    if (directives.garbage !== undefined || directives.malformed !== undefined) settle("faults");
    else settle("completed");
    res.end();
  }

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://model.local").pathname;
    if (req.method === "POST" && path === "/v1/chat/completions") {
      complete(req, res).catch((error) => {
        log(`[model] ${error?.stack ?? error}`);
        if (!res.headersSent) sendError(res, 500, "The model server failed.", "server_error");
        else res.destroy();
      });
    } else if (req.method === "GET" && path === "/v1/models") {
      sendJson(res, 200, { object: "list", data: [{ id: MODEL_NAME, object: "model", created: 0, owned_by: "edgeserve" }] });
    } else if (req.method === "GET" && (path === "/_open" || path === "/_stats")) {
      const tag = new URL(req.url ?? "/", "http://model.local").searchParams.get("tag");
      const tally = tag === null ? counts : (tagged.get(tag) ?? newCounts());
      sendJson(res, 200, path === "/_open" ? { open: tally.open, aborted: tally.aborted } : { ...tally });
    } else {
      sendError(res, 404, `No route ${req.method} ${path}.`);
    }
  });

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const bound = server.address().port;
      resolve({
        url: `http://127.0.0.1:${bound}`,
        port: bound,
        stats: (tag) => ({ ...(tag === undefined ? counts : (tagged.get(tag) ?? newCounts())) }),
        stop: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name) => {
    const at = process.argv.indexOf(name);
    return at >= 0 ? process.argv[at + 1] : undefined;
  };
  const server = await startModelServer({
    port: Number(arg("--port") ?? process.env.EDGESERVE_MODEL_PORT ?? DEFAULT_MODEL_PORT),
    apiKey: arg("--api-key") ?? process.env.EDGESERVE_MODEL_API_KEY,
    log: console.log,
  });
  console.log(`[model] listening on ${server.url}`);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.stop().then(() => process.exit(0)));
}
