#!/usr/bin/env node
// `npm run load`: a bounded load test against `wrangler dev` (loopback only). For LOAD_SECONDS
// (30) it keeps LOAD_CONNECTIONS (12) clients busy with a mix of requests on several pipelines:
// sync word-stats and sentences, async slow-stats followed by polling fetch, and SSE streams of
// sentences. Every answer is checked, not only its status: each request's expected result is
// computed here from its input (by the pipelines' documented rules, not by their code), an SSE
// stream must carry exactly one event per expected result and nothing else, and every accepted
// async run must come back with its right result. It reports throughput, latency percentiles and
// failures per kind (network error, 4xx, 5xx, wrong result, wrong event count), writes them to
// bench/results/load-latest.json, and exits 1 if any request failed in any way or any accepted
// run was lost or wrong.
//
// LOAD_URL points it at a server that is already running instead of starting one (it is then
// not stopped); with a server that answers wrongly, or none, the script must fail.
import { createParser } from "eventsource-parser";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { startDevServer } from "./dev-server.mjs";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 12);
const SETTLE_SECONDS = 60;
const log = (message) => console.log(`[load] ${message}`);

// ---- What each pipeline must answer, from its input (examples/pipelines/*.yaml describe the rules).

/** word-stats (and slow-stats): lower-case, split on non-letters/digits, top five by count then word (code units). */
function wordStats(text) {
  const tokens = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t !== "");
  const counts = new Map();
  for (const t of tokens) counts.set(t, (counts.get(t) ?? 0) + 1);
  const byCountThenWord = ([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0);
  return { words: tokens.length, unique: counts.size, top: [...counts].sort(byCountThenWord).slice(0, 5) };
}

/** sentences: one result per sentence (ends at . ! ? before whitespace or the end); questions upper-cased. */
function sentences(text) {
  return text
    .split(/(?<=[.!?])(?=\s|$)/)
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((sentence, index) => {
      const kind = sentence.endsWith("?") ? "question" : "statement";
      return { index, sentence: kind === "question" ? sentence.toUpperCase() : sentence, kind };
    });
}

// ---- The request kinds. Each throws a `Failure` (with its category) when the answer is not the one expected.

class Failure extends Error {
  constructor(category, message) {
    super(message);
    this.category = category;
  }
}

const KINDS = {
  "sync word-stats": async (url, i) => {
    const text = `load test ${i}: the quick brown fox jumps over the lazy dog, the fox naps`;
    const res = await post(`${url}/v1/process/sync`, { text });
    expectResults(await numaflowResults(res), [wordStats(text)]);
  },
  "sync sentences": async (url, i) => {
    const text = `One ${i}. Two? Three!`;
    const res = await post(`${url}/pipelines/sentences/v1/process/sync`, { text });
    expectResults(byIndex(await numaflowResults(res)), sentences(text));
  },
  "async slow-stats": async (url, i, accepted) => {
    const id = `load-${Date.now().toString(36)}-${i}`;
    const text = `async ${i} stats of stats`;
    const res = await post(`${url}/pipelines/slow-stats/v1/process/async`, { text }, { "X-Numaflow-Id": id });
    await expectStatus(res, 200);
    await res.arrayBuffer();
    accepted.push({ id, expected: [wordStats(text)] });
  },
  "sse sentences": async (url, i) => {
    const text = `Stream ${i}. Now?`;
    const res = await post(`${url}/pipelines/sentences/v1/process/sse`, { text });
    await expectStatus(res, 200);
    const events = await readSse(res);
    const expected = sentences(text);
    // One unnamed data event per result; a `run_failed` event or an extra or missing one is wrong.
    if (events.length !== expected.length || events.some((e) => e.event !== undefined)) {
      throw new Failure("wrong event count", `expected ${expected.length} result events, got ${events.map((e) => e.event ?? "result").join(", ") || "none"}`);
    }
    expectResults(byIndex(events.map((e) => parseResult(e.data))), expected);
  },
};

function post(url, body, headers = {}) {
  return fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
    signal: AbortSignal.timeout(60_000),
  });
}

async function expectStatus(res, status) {
  if (res.status === status) return;
  const body = await res.text().catch(() => "");
  const category = res.status >= 500 ? "5xx" : res.status >= 400 ? "4xx" : "wrong status";
  throw new Failure(category, `HTTP ${res.status} (expected ${status}): ${body.slice(0, 200)}`);
}

/** A Numaflow results body split with its `Numaflow-Array-Index-Len` header, each part JSON-decoded. */
async function numaflowResults(res) {
  await expectStatus(res, 200);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const lengths = (res.headers.get("numaflow-array-index-len") ?? "").split(",").filter(Boolean).map(Number);
  if (lengths.reduce((a, b) => a + b, 0) !== bytes.length) throw new Failure("wrong result", `body of ${bytes.length} bytes, header says ${lengths}`);
  const decoder = new TextDecoder();
  let offset = 0;
  return lengths.map((length) => parseResult(decoder.decode(bytes.subarray(offset, (offset += length)))));
}

function parseResult(text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new Failure("wrong result", `not JSON: ${text.slice(0, 200)}`);
  }
}

/** Results whose order the pipeline does not promise (sentences routes questions through one more step), in `index` order. */
const byIndex = (results) => [...results].sort((a, b) => (a?.index ?? 0) - (b?.index ?? 0));

function expectResults(got, expected) {
  if (!isDeepStrictEqual(got, expected)) throw new Failure("wrong result", `got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
}

/** An SSE response's events, read to the end of the stream. */
async function readSse(res) {
  const events = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body) parser.feed(decoder.decode(chunk, { stream: true }));
  return events;
}

/** A thrown error's category: a `Failure`'s own, else a network error (no answer at all). */
const categoryOf = (error) => (error instanceof Failure ? error.category : "network");

// ---- Running and judging.

const percentile = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);

/** Keeps CONNECTIONS clients busy until the time is up; returns per-kind stats and the accepted async runs. */
async function generate(url) {
  const stats = Object.fromEntries(Object.keys(KINDS).map((k) => [k, { latencies: [], failed: {}, failures: [] }]));
  const accepted = [];
  const end = Date.now() + SECONDS * 1000;
  const names = Object.keys(KINDS);
  let counter = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < end) {
        const i = counter++;
        const kind = names[i % names.length];
        const started = performance.now();
        try {
          await KINDS[kind](url, i, accepted);
          stats[kind].latencies.push(performance.now() - started);
        } catch (error) {
          const category = categoryOf(error);
          stats[kind].failed[category] = (stats[kind].failed[category] ?? 0) + 1;
          if (stats[kind].failures.length < 5) stats[kind].failures.push(`${category}: ${error.message}`);
        }
      }
    }),
  );
  return { stats, accepted };
}

/** Fetches every accepted async run until it has its result; returns the runs lost or answered wrongly. */
async function collect(url, accepted) {
  const deadline = Date.now() + SETTLE_SECONDS * 1000;
  const bad = [];
  let pending = [...accepted];
  while (pending.length > 0 && Date.now() < deadline) {
    const still = [];
    for (const run of pending) {
      try {
        const res = await fetch(`${url}/pipelines/slow-stats/v1/process/fetch?id=${run.id}`);
        // Not there yet (not indexed) or still running: asked again in the next round.
        if (res.status === 404 || (res.headers.get("content-type") ?? "").includes("json")) {
          const body = await res.text();
          if (res.status === 404 || body.includes("in-progress")) still.push(run);
          else bad.push(`${run.id}: HTTP ${res.status} ${body.slice(0, 200)}`);
          continue;
        }
        expectResults(await numaflowResults(res), run.expected);
      } catch (error) {
        bad.push(`${run.id}: ${categoryOf(error)}: ${error.message}`);
      }
    }
    pending = still;
    if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return [...bad, ...pending.map((run) => `${run.id}: no result after ${SETTLE_SECONDS} s`)];
}

function summarise(stats, accepted, lost) {
  const report = { at: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, kinds: {}, acceptedAsync: accepted.length, lost };
  for (const [kind, s] of Object.entries(stats)) {
    const sorted = [...s.latencies].sort((a, b) => a - b);
    report.kinds[kind] = {
      ok: sorted.length,
      per_second: Math.round((sorted.length / SECONDS) * 10) / 10,
      p50_ms: Math.round(percentile(sorted, 50) ?? 0),
      p95_ms: Math.round(percentile(sorted, 95) ?? 0),
      p99_ms: Math.round(percentile(sorted, 99) ?? 0),
      errors: Object.values(s.failed).reduce((a, b) => a + b, 0),
      failed: s.failed,
      failures: s.failures,
    };
  }
  return report;
}

async function main() {
  log(`${CONNECTIONS} clients for ${SECONDS} s: ${Object.keys(KINDS).join(", ")}`);
  const server = process.env.LOAD_URL ? { url: process.env.LOAD_URL, stop: async () => {} } : await startDevServer();
  try {
    const { stats, accepted } = await generate(server.url);
    const lost = await collect(server.url, accepted);
    const report = summarise(stats, accepted, lost);
    console.table(
      Object.fromEntries(
        Object.entries(report.kinds).map(([k, v]) => [
          k,
          { ok: v.ok, "req/s": v.per_second, p50: v.p50_ms, p95: v.p95_ms, p99: v.p99_ms, errors: v.errors, ...v.failed },
        ]),
      ),
    );
    const kinds = Object.values(report.kinds);
    const ok = kinds.reduce((n, k) => n + k.ok, 0);
    const errors = kinds.reduce((n, k) => n + k.errors, 0);
    for (const [kind, v] of Object.entries(report.kinds)) for (const line of v.failures) log(`${kind}: ${line}`);
    for (const line of lost.slice(0, 10)) log(`async run: ${line}`);
    const dir = fileURLToPath(new URL("../bench/results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}load-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
    const failed = errors > 0 || lost.length > 0 || ok === 0;
    const summary = `${ok} requests right (${Math.round(ok / SECONDS)} req/s), ${errors} failed; ${accepted.length} async runs accepted, ${lost.length} lost or wrong`;
    log(`${failed ? "FAIL" : "PASS"}: ${summary}`);
    process.exitCode = failed ? 1 : 0;
  } finally {
    await server.stop();
  }
}

await main();
