#!/usr/bin/env node
// `npm run load`: a bounded load test against `wrangler dev` (loopback only). For LOAD_SECONDS
// (30) it keeps LOAD_CONNECTIONS (12) clients busy with a mix of requests on several pipelines:
// sync word-stats and sentences, async slow-stats followed by polling fetch, and SSE streams of
// sentences. It reports throughput, latency percentiles and error counts per kind, writes them to
// bench/results/load-latest.json, and exits 1 if any response was a 5xx or any accepted run was
// lost (an async run whose result never came).
import { createParser } from "eventsource-parser";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDevServer } from "./dev-server.mjs";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 12);
const SETTLE_SECONDS = 60;
const log = (message) => console.log(`[load] ${message}`);

const KINDS = {
  "sync word-stats": async (url, i) => expectOk(await post(`${url}/v1/process/sync`, { text: `load test ${i} the quick brown fox` })),
  "sync sentences": async (url, i) => expectOk(await post(`${url}/pipelines/sentences/v1/process/sync`, { text: `One ${i}. Two? Three!` })),
  "async slow-stats": async (url, i, accepted) => {
    const id = `load-${Date.now().toString(36)}-${i}`;
    const res = await post(`${url}/pipelines/slow-stats/v1/process/async`, { text: `async ${i}` }, { "X-Numaflow-Id": id });
    expectOk(res);
    accepted.push(id);
  },
  "sse sentences": async (url, i) => {
    const res = await post(`${url}/pipelines/sentences/v1/process/sse`, { text: `Stream ${i}. Now?` });
    expectOk(res, false);
    let events = 0;
    const parser = createParser({ onEvent: () => events++ });
    const decoder = new TextDecoder();
    for await (const chunk of res.body) parser.feed(decoder.decode(chunk, { stream: true }));
    if (events !== 2) throw Object.assign(new Error(`expected 2 SSE results, got ${events}`), { status: 0 });
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

async function expectOk(res, drain = true) {
  if (drain) await res.arrayBuffer();
  if (res.status !== 200) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
}

const percentile = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]);

async function main() {
  log(`${CONNECTIONS} clients for ${SECONDS} s: ${Object.keys(KINDS).join(", ")}`);
  const server = await startDevServer();
  try {
    const stats = Object.fromEntries(Object.keys(KINDS).map((k) => [k, { latencies: [], errors: 0, status5xx: 0, status4xx: 0, failures: [] }]));
    const accepted = [];
    const end = Date.now() + SECONDS * 1000;
    let counter = 0;
    const names = Object.keys(KINDS);
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (Date.now() < end) {
          const i = counter++;
          const kind = names[i % names.length];
          const started = performance.now();
          try {
            await KINDS[kind](server.url, i, accepted);
            stats[kind].latencies.push(performance.now() - started);
          } catch (error) {
            stats[kind].errors += 1;
            if (error.status >= 500) stats[kind].status5xx += 1;
            else if (error.status >= 400) stats[kind].status4xx += 1;
            if (stats[kind].failures.length < 5) stats[kind].failures.push(String(error.message));
          }
        }
      }),
    );
    // Every accepted async run must reach its result.
    const deadline = Date.now() + SETTLE_SECONDS * 1000;
    let pending = [...accepted];
    const lost = [];
    while (pending.length > 0 && Date.now() < deadline) {
      const still = [];
      for (const id of pending) {
        const res = await fetch(`${server.url}/pipelines/slow-stats/v1/process/fetch?id=${id}`);
        const text = await res.text();
        if (res.status >= 500) lost.push(`${id}: HTTP ${res.status}`);
        else if (res.status !== 200 || text.includes("in-progress")) still.push(id);
      }
      pending = still;
      if (pending.length > 0) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    lost.push(...pending.map((id) => `${id}: no result after ${SETTLE_SECONDS} s`));

    const report = { at: new Date().toISOString(), seconds: SECONDS, connections: CONNECTIONS, kinds: {}, acceptedAsync: accepted.length, lost };
    let total = 0;
    let total5xx = 0;
    for (const [kind, s] of Object.entries(stats)) {
      const sorted = [...s.latencies].sort((a, b) => a - b);
      total += sorted.length;
      total5xx += s.status5xx;
      report.kinds[kind] = {
        ok: sorted.length,
        per_second: Math.round((sorted.length / SECONDS) * 10) / 10,
        p50_ms: Math.round(percentile(sorted, 50) ?? 0),
        p95_ms: Math.round(percentile(sorted, 95) ?? 0),
        p99_ms: Math.round(percentile(sorted, 99) ?? 0),
        errors: s.errors,
        status_4xx: s.status4xx,
        status_5xx: s.status5xx,
        failures: s.failures,
      };
    }
    console.table(
      Object.fromEntries(
        Object.entries(report.kinds).map(([k, v]) => [
          k,
          { ok: v.ok, "req/s": v.per_second, p50: v.p50_ms, p95: v.p95_ms, p99: v.p99_ms, errors: v.errors, "5xx": v.status_5xx },
        ]),
      ),
    );
    log(`${total} requests ok (${Math.round(total / SECONDS)} req/s); ${accepted.length} async runs accepted, ${lost.length} lost; ${total5xx} responses 5xx`);
    for (const line of lost.slice(0, 10)) log(`lost: ${line}`);
    const dir = fileURLToPath(new URL("../bench/results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}load-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
    const failed = total5xx > 0 || lost.length > 0;
    log(failed ? "FAIL" : "PASS");
    process.exitCode = failed ? 1 : 0;
  } finally {
    await server.stop();
  }
}

await main();
