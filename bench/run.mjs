#!/usr/bin/env node
// `npm run bench`: sync word-stats through edgeserve's Numaflow surface, against five baselines
// measured in the same run (bench/baselines/worker.ts): a bare Worker (the floor), a hand-written
// Worker → Durable Object → one SQLite row, the same object also keeping its run only until a
// retention alarm deletes it (as every edgeserve run is kept), that one also listing its runs in D1
// through a queue (edgeserve's run index: the same guarantees as edgeserve's default path,
// hand-written; the bench fails when it did not list every run it answered), and the sharded floor
// (Worker → one of 16 long-lived objects → one row), the least the journal host could do. Loopback
// only; everything (load generator and `wrangler dev` servers) shares this machine's cores.
//
// Which deployment: the edgeserve targets run on the API-only deployment (`--api-only`,
// wrangler.api-only.toml: no static assets), like the baselines, which serve no console either.
// The default deployment has the console's static assets, so the platform's asset router stands in
// front of every request; `edgeserve_memory_only_console` is the memory-only target on it, and its
// ratio to `edgeserve_memory_only` is what that router costs a request (README "API-only deployment").
//
// What is measured, and how:
// - Latency (1 connection) and throughput (16 connections) phases, per target, in rounds (targets in
//   turn, each round). A phase stops at its time bound (maxSeconds, enforced), or earlier once it has
//   its share of samples (MIN_SAMPLES / ROUNDS) and has run minSeconds. Each phase reports the
//   requests it actually made and how long it ran.
// - p50 and requests/s are the median over rounds. p99 is computed from every latency sample of
//   that target and phase across all rounds (client-side time of each response, from autocannon's
//   `response` event); it is marked unreliable when there are fewer than MIN_SAMPLES (2,000).
// - CPU time per request: user+system time (/proc/<pid>/stat) of the `workerd` processes of the
//   target's `wrangler dev`, found by walking /proc (the workerd listening on the target's port is
//   wrangler's proxy; its parent is wrangler; every workerd child of that parent is counted). The
//   window is the phase plus the settle pause after it, so background work a target leaves behind
//   (edgeserve's queue consumers draining index rows, in the same process) is charged to it.
//   `cpu_ms_per_request` counts all workerd processes (as served locally); `worker_cpu_ms_per_request`
//   counts only the runtime process that runs the Worker and its objects (not wrangler's proxy).
// - Bundle: `wrangler deploy --dry-run` "Total Upload" and its gzip figure.
// - First request of a fresh server: the first POST /v1/process/sync after a fresh edgeserve
//   `wrangler dev` reports ready. Readiness is a GET /livez, which already reached the Worker, so this
//   times the first pipeline request (first Run object, cold code paths), not loading the script.
// - SQLite rows written per run, measured for both: edgeserve's run record (`rows_written`), and the
//   hand-written DO's `x-rows-written` header (sum of `cursor.rowsWritten` of its statements).
// Results go to bench/results/latest.json and a timestamped copy. Missed targets are printed but
// exit 0 (this is a measurement); a wrong result (non-2xx, errors, a phase with no requests) exits 1.
import autocannon from "autocannon";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startDevServer } from "../scripts/dev-server.mjs";
// Node strips the types of this one pure module (no other TypeScript is loaded here): the bench picks
// journal shards exactly as the server does.
import { shardName } from "../src/engine/shard-name.ts";

const env = process.env;
const BODY = JSON.stringify({
  text: "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
});
/** Targets are measured in turn, round after round; medians over rounds keep a burst of noise on
 * this machine to one round (three rounds at least: the median of two is their mean). */
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
/** Latency samples each target and phase needs (over all rounds) for its p99 to count. */
const MIN_SAMPLES = Number(env.BENCH_MIN_SAMPLES ?? 2000);
const SAMPLES_PER_ROUND = Math.ceil(MIN_SAMPLES / ROUNDS);
const PHASES = [
  { name: "latency", connections: 1, minSeconds: 5, maxSeconds: Number(env.BENCH_LATENCY_MAX_SECONDS ?? 45), goal: SAMPLES_PER_ROUND },
  { name: "throughput", connections: 16, minSeconds: 5, maxSeconds: Number(env.BENCH_THROUGHPUT_MAX_SECONDS ?? 30), goal: SAMPLES_PER_ROUND },
];
const WARMUP = { connections: 4, minSeconds: 0, maxSeconds: 20, goal: 100 };
/** Quiet after each phase (inside its CPU window) so background work is charged to its target. */
const SETTLE_MS = 3000;
const FIRST_REQUEST_RUNS = Number(env.BENCH_FIRST_REQUEST_RUNS ?? 3);
const ROWS_RUNS = 3;
/** Pass/fail targets printed at the end (a missed target does not fail the run). */
const BUNDLE_LIMIT_KIB = 500;

const log = (message) => console.log(`[bench] ${message}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const round1 = (value) => (value === null || value === undefined ? null : Math.round(value * 10) / 10);
const round2 = (value) => (value === null || value === undefined ? null : Math.round(value * 100) / 100);

// ── statistics ────────────────────────────────────────────────────────────────────────────────

const median = (values) => {
  const sorted = values.filter((v) => v !== null).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Nearest-rank percentile (q in 0..1) of unsorted samples. */
function percentile(samples, q) {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

const ratio = (a, b) => (a === null || b === null || b === 0 ? null : round2(a / b));

// ── workerd CPU time from /proc ───────────────────────────────────────────────────────────────

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on Linux x86-64 and arm64

/** pid, parent, name, CPU ticks (user+system, all threads) and start time of a process, or null. */
function readProcess(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = text.lastIndexOf(")");
    const fields = text.slice(close + 2).split(" "); // fields[0] is field 3 (state) of proc(5)
    return {
      pid: Number(pid),
      ppid: Number(fields[1]),
      comm: text.slice(text.indexOf("(") + 1, close),
      ticks: Number(fields[11]) + Number(fields[12]),
      startTime: fields[19],
    };
  } catch {
    return null; // gone meanwhile
  }
}

const allProcesses = () =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(readProcess)
    .filter(Boolean);

function commandLine(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return [];
  }
}

/** The workerd processes of the `wrangler dev` serving `port`: wrangler's proxy (it listens on the
 * port: `--socket-addr=entry=127.0.0.1:<port>`) and its siblings (the runtime running the Worker). */
function workerdProcesses(port) {
  const processes = allProcesses();
  const proxy = processes.find((p) => p.comm === "workerd" && commandLine(p.pid).includes(`--socket-addr=entry=127.0.0.1:${port}`));
  if (!proxy) throw new Error(`no workerd process listens on port ${port}; cannot measure CPU time`);
  const descendants = new Set([proxy.ppid]);
  let before;
  do {
    before = descendants.size;
    for (const p of processes) if (descendants.has(p.ppid)) descendants.add(p.pid);
  } while (descendants.size > before);
  return processes.filter((p) => p.comm === "workerd" && descendants.has(p.pid)).map((p) => ({ ...p, role: p.pid === proxy.pid ? "proxy" : "worker" }));
}

/** CPU ms of `port`'s workerd processes between two snapshots, by role; null if one restarted. */
function cpuDelta(before, after) {
  const key = (p) => `${p.pid}@${p.startTime}`;
  const same = before.length === after.length && before.every((p) => after.some((q) => key(q) === key(p)));
  if (!same) return null;
  const ms = { total: 0, proxy: 0, worker: 0 };
  for (const p of after) {
    const spent = ((p.ticks - before.find((q) => key(q) === key(p)).ticks) * 1000) / CLOCK_TICKS_PER_SECOND;
    ms.total += spent;
    ms[p.role] += spent;
  }
  return ms;
}

// ── load ──────────────────────────────────────────────────────────────────────────────────────

/** POSTs BODY to `url` until `goal` responses and `minSeconds`, never past `maxSeconds`. */
async function runLoad(url, { connections, goal, minSeconds, maxSeconds }) {
  const samples = [];
  /** Responses by status, other than 2xx (what a wrong result was). */
  const otherStatuses = {};
  const started = performance.now();
  const elapsedSeconds = () => (performance.now() - started) / 1000;
  let instance;
  let minTimer;
  const result = await new Promise((resolve, reject) => {
    instance = autocannon(
      {
        url,
        method: "POST",
        body: BODY,
        headers: { "content-type": "application/json" },
        connections,
        duration: maxSeconds, // the bound; no `amount`, which would override it
        sampleInt: 100, // autocannon acts on a stop at its next sample tick: keep the overrun small
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    const stopIfDone = () => {
      if (samples.length >= goal && elapsedSeconds() >= minSeconds) instance.stop();
    };
    instance.on("response", (_client, status, _bytes, responseTimeMs) => {
      if (status < 200 || status >= 300) otherStatuses[status] = (otherStatuses[status] ?? 0) + 1;
      samples.push(responseTimeMs);
      stopIfDone();
    });
    minTimer = setTimeout(stopIfDone, minSeconds * 1000);
  });
  clearTimeout(minTimer);
  return { result, samples, otherStatuses, seconds: elapsedSeconds() };
}

/** One phase against one target: load, then the settle pause, with workerd CPU over both. */
async function measurePhase(target, phase) {
  const before = workerdProcesses(target.port);
  const { result, samples, otherStatuses, seconds } = await runLoad(target.url, phase);
  await sleep(SETTLE_MS);
  const cpu = cpuDelta(before, workerdProcesses(target.port));
  const requests = result.requests.total;
  return {
    requests,
    sent: result.requests.sent,
    samples: samples.length,
    non2xx: result.non2xx,
    non2xx_statuses: otherStatuses,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: round2(seconds),
    stopped_by: samples.length >= phase.goal ? "samples" : "time bound",
    p50_ms: round1(percentile(samples, 0.5)),
    p99_ms: round1(percentile(samples, 0.99)),
    requests_per_second: round1(requests / seconds),
    cpu_ms: cpu && round1(cpu.total),
    cpu_ms_per_request: cpu && requests ? round2(cpu.total / requests) : null,
    worker_cpu_ms_per_request: cpu && requests ? round2(cpu.worker / requests) : null,
    cpu_note: cpu ? undefined : "a workerd process restarted during the phase",
    latencies: samples, // pooled into the p99 over rounds, dropped from the report
  };
}

/** A target and phase over all rounds: medians, except p99 from all samples pooled. */
function combineRounds(list) {
  const pooled = list.flatMap((r) => r.latencies);
  const sum = (field) => list.reduce((total, r) => total + r[field], 0);
  return {
    rounds: list.length,
    requests: sum("requests"),
    samples: pooled.length,
    non2xx: sum("non2xx"),
    errors: sum("errors"),
    p50_ms: round1(median(list.map((r) => r.p50_ms))),
    p99_ms: round1(percentile(pooled, 0.99)),
    p99_reliable: pooled.length >= MIN_SAMPLES,
    requests_per_second: round1(median(list.map((r) => r.requests_per_second))),
    cpu_ms_per_request: round2(median(list.map((r) => r.cpu_ms_per_request))),
    worker_cpu_ms_per_request: round2(median(list.map((r) => r.worker_cpu_ms_per_request))),
    per_round: list.map(({ latencies, ...rest }) => rest),
  };
}

// ── one-off measurements ──────────────────────────────────────────────────────────────────────

async function timedPost(url) {
  const started = performance.now();
  const response = await fetch(url, { method: "POST", body: BODY, headers: { "content-type": "application/json" } });
  await response.text();
  return { ms: round1(performance.now() - started), status: response.status };
}

/** Fresh edgeserve servers, one after another: the first (and, for contrast, second) pipeline request of each. */
async function firstRequestTimes() {
  const runs = [];
  for (let i = 1; i <= FIRST_REQUEST_RUNS; i++) {
    const started = performance.now();
    const server = await startDevServer();
    const readyMs = Math.round(performance.now() - started);
    try {
      const first = await timedPost(`${server.url}/v1/process/sync`);
      const second = await timedPost(`${server.url}/v1/process/sync`);
      runs.push({ first_ms: first.ms, first_status: first.status, second_ms: second.ms, second_status: second.status, start_to_ready_ms: readyMs });
      log(`  fresh server ${i}/${FIRST_REQUEST_RUNS}: first request ${first.ms} ms (${first.status}), second ${second.ms} ms`);
    } finally {
      await server.stop();
    }
  }
  return {
    measures:
      "first POST /v1/process/sync (word-stats) after a fresh `wrangler dev` answered its readiness probe (GET /livez, which already reached the Worker): the first Run object and the cold code paths, not loading the script",
    runs,
    first_request_ms_median: round1(median(runs.map((r) => r.first_ms))),
    second_request_ms_median: round1(median(runs.map((r) => r.second_ms))),
  };
}

/** `wrangler deploy --dry-run`'s "Total Upload: X KiB / gzip: Y KiB". */
async function bundleSize() {
  const require = createRequire(import.meta.url);
  const wrangler = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
  const outdir = mkdtempSync(join(os.tmpdir(), "edgeserve-bench-bundle-"));
  try {
    const child = spawn(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outdir], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      env: { ...env, CI: "true", WRANGLER_SEND_METRICS: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const code = await new Promise((resolve) => child.once("close", resolve));
    const match = /Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/.exec(output);
    if (code !== 0 || !match) throw new Error(`wrangler deploy --dry-run (exit ${code}) printed no "Total Upload: … KiB / gzip: … KiB":\n${output}`);
    return { total_upload_kib: Number(match[1]), gzip_kib: Number(match[2]) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** SQLite rows one run writes, as each side reports it; a few runs, in case it varies. */
async function rowsWrittenPerRun(edgeserveUrl, baselinesUrl) {
  const edgeserve = [];
  const journal = [];
  const handwritten = [];
  const rowsOf = async (pipeline, id) => {
    const run = await fetch(`${edgeserveUrl}/pipelines/${pipeline}/v1/process/sync`, { method: "POST", body: BODY, headers: { "X-Numaflow-Id": id } });
    await run.text();
    const record = await fetch(`${edgeserveUrl}/v1/pipelines/${pipeline}/runs/${id}`);
    if (!run.ok || !record.ok) throw new Error(`edgeserve rows (${pipeline}): run ${run.status}, record ${record.status}`);
    return (await record.json()).rows_written;
  };
  for (let i = 0; i < ROWS_RUNS; i++) {
    const id = `bench-rows-${Date.now()}-${i}`;
    edgeserve.push(await rowsOf("word-stats", id));
    journal.push(await rowsOf("word-stats-journal", id));
    const baseline = await fetch(`${baselinesUrl}/do`, { method: "POST", body: BODY });
    await baseline.text();
    const header = baseline.headers.get("x-rows-written");
    if (!baseline.ok || header === null) throw new Error(`hand-written DO: ${baseline.status}, x-rows-written ${header}`);
    handwritten.push(Number(header));
  }
  return {
    edgeserve: median(edgeserve),
    edgeserve_journal: median(journal),
    handwritten_do: median(handwritten),
    measured: { edgeserve, edgeserve_journal: journal, handwritten_do: handwritten },
  };
}

/**
 * `/do-indexed` must list every run it answered (warm-up runs included), or its figures are those
 * of a baseline that skipped its index: the rows drain through its queue within a few seconds.
 */
async function indexedBaselineListed(baselinesUrl, rounds) {
  const answered = Object.values(rounds)
    .flatMap((byTarget) => byTarget.handwritten_do_indexed ?? [])
    .reduce((total, r) => total + r.requests - r.non2xx, 0);
  if (answered === 0) return null;
  let listed = 0;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) {
    listed = (await (await fetch(`${baselinesUrl}/do-indexed/count`)).json()).listed;
    if (listed >= answered) break;
  }
  return { answered, listed };
}

/** New run ids whose runs land in journal shard `shard` of `shards`. */
function idsInShard(prefix, shard, shards) {
  let n = 0;
  return () => {
    for (;;) {
      const id = `${prefix}-${Date.now()}-${n++}`;
      if (shardName("word-stats-journal", id, shards) === `word-stats-journal#${shard}`) return id;
    }
  };
}

/**
 * What a CPU-heavy run costs the other runs of its journal shard: sequential short word-stats-journal
 * runs, alone, then while another client keeps sending runs with a large text (about 40 ms of
 * counting each) to another shard, then to the same shard. Reports p50/p99 of the short runs.
 */
async function shardNeighbour(edgeserveUrl) {
  const SHARDS = 16;
  const SAMPLES = 300;
  const heavyBody = JSON.stringify({ text: "alpha beta gamma delta epsilon ".repeat(40_000) });
  const url = `${edgeserveUrl}/pipelines/word-stats-journal/v1/process/sync`;
  const send = async (id, body) => {
    const started = performance.now();
    const res = await fetch(url, { method: "POST", body, headers: { "X-Numaflow-Id": id } });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`shard neighbour: ${res.status}`);
    return performance.now() - started;
  };
  const shortIds = idsInShard("bench-short", 0, SHARDS);
  const phase = async (neighbourShard) => {
    let running = neighbourShard !== null;
    const heavyIds = neighbourShard === null ? null : idsInShard("bench-heavy", neighbourShard, SHARDS);
    const heavyTimes = [];
    const neighbour = (async () => {
      while (running) heavyTimes.push(await send(heavyIds(), heavyBody));
    })();
    const times = [];
    for (let i = 0; i < SAMPLES; i++) times.push(await send(shortIds(), BODY));
    running = false;
    await neighbour;
    return { p50_ms: round1(percentile(times, 0.5)), p99_ms: round1(percentile(times, 0.99)), neighbour_run_p50_ms: round1(percentile(heavyTimes, 0.5)) };
  };
  return { alone: await phase(null), neighbour_in_other_shard: await phase(1), neighbour_in_same_shard: await phase(0) };
}

// ── comparison and output ─────────────────────────────────────────────────────────────────────

// edgeserve (Durable Object per run) against both baselines; memory-only against the bare Worker,
// which does exactly what it does, minus edgeserve.
const COMPARISONS = [
  ["edgeserve", "bare_worker"],
  ["edgeserve", "handwritten_do"],
  ["edgeserve", "handwritten_do_retained"],
  ["handwritten_do_retained", "handwritten_do"],
  ["edgeserve", "handwritten_do_indexed"],
  ["handwritten_do_indexed", "handwritten_do"],
  ["edgeserve_journal", "handwritten_do"],
  ["sharded_floor", "handwritten_do"],
  ["edgeserve_journal", "sharded_floor"],
  ["edgeserve_memory_only", "bare_worker"],
  ["edgeserve_memory_only_console", "bare_worker"],
  ["edgeserve_memory_only_console", "edgeserve_memory_only"],
];

function ratios(results) {
  const out = {};
  for (const phase of PHASES) {
    const r = results[phase.name];
    out[phase.name] = {};
    for (const [ours, baseline] of COMPARISONS) {
      if (!r[ours] || !r[baseline]) continue;
      out[phase.name][`${ours}_vs_${baseline}`] = {
        p50: ratio(r[ours].p50_ms, r[baseline].p50_ms),
        p99: ratio(r[ours].p99_ms, r[baseline].p99_ms),
        requests_per_second: ratio(r[ours].requests_per_second, r[baseline].requests_per_second),
        cpu_ms_per_request: ratio(r[ours].cpu_ms_per_request, r[baseline].cpu_ms_per_request),
      };
    }
  }
  return out;
}

function targetChecks(ratiosByPhase, bundle, rows) {
  const check = (name, value, op, limit) => ({
    target: name,
    value,
    limit,
    pass: value === null || value === undefined ? null : op === "≤" ? value <= limit : value >= limit,
  });
  const lat = ratiosByPhase.latency ?? {};
  const thr = ratiosByPhase.throughput ?? {};
  return [
    check("edgeserve p50 (1 conn) ÷ hand-written DO ≤ 1.1", lat.edgeserve_vs_handwritten_do?.p50, "≤", 1.1),
    check("edgeserve req/s (16 conn) ÷ hand-written DO ≥ 1.0", thr.edgeserve_vs_handwritten_do?.requests_per_second, "≥", 1.0),
    // The same two against the hand-written object that keeps what edgeserve keeps (retention, run index).
    check("edgeserve p50 (1 conn) ÷ hand-written DO with retention and a run index ≤ 1.1", lat.edgeserve_vs_handwritten_do_indexed?.p50, "≤", 1.1),
    check(
      "edgeserve req/s (16 conn) ÷ hand-written DO with retention and a run index ≥ 1.0",
      thr.edgeserve_vs_handwritten_do_indexed?.requests_per_second,
      "≥",
      1.0,
    ),
    check("journal p50 (1 conn) ÷ hand-written DO ≤ 0.5", lat.edgeserve_journal_vs_handwritten_do?.p50, "≤", 0.5),
    check("journal req/s (16 conn) ÷ hand-written DO ≥ 4", thr.edgeserve_journal_vs_handwritten_do?.requests_per_second, "≥", 4),
    check("journal rows written per run ≤ 3", rows.edgeserve_journal, "≤", 3),
    check("memory-only p50 (1 conn) ÷ bare Worker ≤ 1.1", lat.edgeserve_memory_only_vs_bare_worker?.p50, "≤", 1.1),
    check("memory-only req/s (16 conn) ÷ bare Worker ≥ 0.9", thr.edgeserve_memory_only_vs_bare_worker?.requests_per_second, "≥", 0.9),
    // The isolate parses the uncompressed script, so that is the figure the target is about.
    check(`bundle KiB (uncompressed) ≤ ${BUNDLE_LIMIT_KIB} (gzip: ${bundle.gzip_kib} KiB)`, bundle.total_upload_kib, "≤", BUNDLE_LIMIT_KIB),
  ];
}

/** Every reason the figures cannot be trusted: non-2xx, errors, a phase with no requests. */
function wrongResults(rounds, firstRequest) {
  const problems = [];
  for (const [phase, byTarget] of Object.entries(rounds)) {
    for (const [name, list] of Object.entries(byTarget)) {
      list.forEach((r, i) => {
        const where = `${phase} ${name} round ${i + 1}`;
        if (r.requests === 0) problems.push(`${where}: no requests completed`);
        if (r.non2xx > 0) problems.push(`${where}: ${r.non2xx} non-2xx responses ${JSON.stringify(r.non2xx_statuses ?? {})}`);
        if (r.errors > 0) problems.push(`${where}: ${r.errors} errors (${r.timeouts} timeouts)`);
      });
    }
  }
  for (const [i, run] of firstRequest.runs.entries()) {
    if (run.first_status >= 300 || run.second_status >= 300) problems.push(`first-request run ${i + 1}: status ${run.first_status}/${run.second_status}`);
  }
  return problems;
}

function printSummary(report) {
  const cell = (v) => (v === null || v === undefined ? "n/a" : String(v));
  for (const phase of PHASES) {
    console.log(`\n${phase.name} (${phase.connections} connection(s), median of ${ROUNDS} rounds; p99 over all samples)`);
    console.log("target                         requests samples  p50 ms  p99 ms   req/s  CPU ms/req (worker only)");
    for (const [name, r] of Object.entries(report.results[phase.name])) {
      const cpu = `${cell(r.cpu_ms_per_request)} (${cell(r.worker_cpu_ms_per_request)})`;
      const flag = r.p99_reliable ? "" : `  p99 UNRELIABLE: ${r.samples} < ${MIN_SAMPLES} samples`;
      console.log(
        `${name.padEnd(30)} ${cell(r.requests).padStart(8)} ${cell(r.samples).padStart(7)} ${cell(r.p50_ms).padStart(7)} ${cell(r.p99_ms).padStart(7)} ${cell(r.requests_per_second).padStart(7)}  ${cpu.padEnd(14)}${flag}`,
      );
    }
  }
  console.log("\nratios (ours ÷ baseline; latency and CPU lower is better, req/s higher is better):");
  for (const [phase, byPair] of Object.entries(report.ratios_edgeserve_to_baseline)) {
    for (const [pair, r] of Object.entries(byPair)) {
      console.log(
        `  ${phase.padEnd(10)} ${pair.padEnd(52)} p50 ${cell(r.p50)} · p99 ${cell(r.p99)} · req/s ${cell(r.requests_per_second)} · CPU/req ${cell(r.cpu_ms_per_request)}`,
      );
    }
  }
  const { bundle, first_request: first, sqlite_rows_written_per_run: rows } = report;
  console.log(`\nbundle (wrangler deploy --dry-run): ${bundle.total_upload_kib} KiB, gzip ${bundle.gzip_kib} KiB`);
  console.log(
    `first pipeline request of a fresh server (median of ${first.runs.length}): ${cell(first.first_request_ms_median)} ms; second request ${cell(first.second_request_ms_median)} ms`,
  );
  console.log(`  (${first.measures})`);
  console.log(
    `SQLite rows written per run: edgeserve ${cell(rows.edgeserve)}, journal ${cell(rows.edgeserve_journal)}, hand-written DO ${cell(rows.handwritten_do)} (measured: ${JSON.stringify(rows.measured)})`,
  );
  const n = report.journal_shard_neighbour;
  console.log("\njournal shard neighbour (short word-stats-journal runs, p50/p99 ms; the heavy neighbour's own p50):");
  for (const [name, r] of Object.entries(n))
    console.log(`  ${name.padEnd(26)} ${cell(r.p50_ms)} / ${cell(r.p99_ms)}   neighbour ${cell(r.neighbour_run_p50_ms)}`);
  console.log("\ntargets:");
  for (const t of report.targets) console.log(`  ${t.pass === null ? "n/a " : t.pass ? "PASS" : "FAIL"}  ${t.target}: ${cell(t.value)}`);
}

/** The code measured: commit, and whether the Worker's sources differ from it. */
function codeVersion() {
  const git = (...args) => spawnSync("git", args, { cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8" });
  const head = git("rev-parse", "HEAD");
  if (head.status !== 0) return { commit: "unknown" };
  const dirty = git("status", "--porcelain", "--", "src", "durable-objects", "examples", "wrangler.toml", "bench/baselines").stdout.trim();
  return { commit: head.stdout.trim(), uncommitted_changes: dirty ? dirty.split("\n") : [] };
}

function machine() {
  return {
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    load_average_at_start: os.loadavg().map(round2),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

function writeReport(report) {
  const dir = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(`${dir}latest.json`, json);
  writeFileSync(`${dir}${report.at.replace(/[:.]/g, "-")}.json`, json);
}

// ── the run ───────────────────────────────────────────────────────────────────────────────────

/** Warm up, then every round: each phase, each target in turn. */
async function measureTargets(targets) {
  for (const [name, target] of Object.entries(targets)) {
    log(`warming up ${name}`);
    await runLoad(target.url, WARMUP);
  }
  await sleep(SETTLE_MS);
  const rounds = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const phase of PHASES) {
      for (const [name, target] of Object.entries(targets)) {
        log(
          `round ${round}/${ROUNDS} ${phase.name}: ${name}, ${phase.connections} connection(s), ${phase.goal} samples (at least ${phase.minSeconds} s), at most ${phase.maxSeconds} s`,
        );
        const m = await measurePhase(target, phase);
        ((rounds[phase.name] ??= {})[name] ??= []).push(m);
        log(
          `  ${m.requests} requests in ${m.seconds} s (stopped by ${m.stopped_by}) · p50 ${m.p50_ms} ms · p99 ${m.p99_ms} ms · ${m.requests_per_second} req/s · CPU ${m.cpu_ms_per_request} ms/req (worker ${m.worker_cpu_ms_per_request}) · errors ${m.errors} · non-2xx ${m.non2xx}`,
        );
      }
    }
  }
  return rounds;
}

async function main() {
  const loadAtStart = machine();
  log(`first request of a fresh edgeserve server, ${FIRST_REQUEST_RUNS} times…`);
  const firstRequest = await firstRequestTimes();
  log("bundle size (wrangler deploy --dry-run)…");
  const bundle = await bundleSize();
  log("starting edgeserve (wrangler dev, API-only and with its console) and the baselines…");
  // One after another: each picks free ports (its own and its example servers') only once the one
  // before is listening on all of its, so two cannot pick the same port.
  const servers = [];
  const start = async (options) => {
    const server = await startDevServer(options);
    servers.push(server);
    return server;
  };
  let problems;
  try {
    const edgeserve = await start({ apiOnly: true });
    const edgeserveWithConsole = await start({});
    const baselinesConfig = fileURLToPath(new URL("./baselines/wrangler.toml", import.meta.url));
    const baselines = await start({ config: baselinesConfig });
    // Each object-per-run target has a server, and so a state folder, of its own, as edgeserve has:
    // every run creates its object's SQLite files there, and what a file costs grows with the
    // files already in the folder, so targets sharing one would pay for each other's runs.
    const doServer = await start({ config: baselinesConfig });
    const retainedServer = await start({ config: baselinesConfig });
    const indexedServer = await start({ config: baselinesConfig });
    for (const server of [edgeserve, edgeserveWithConsole, baselines, doServer, retainedServer, indexedServer]) {
      log(
        `workerd on port ${server.port}: ${workerdProcesses(server.port)
          .map((p) => `${p.pid} (${p.role})`)
          .join(", ")}`,
      );
    }
    // The edgeserve targets go last in each round: they leave background work behind (index rows
    // draining through the queue), charged to each by the settle pause inside its CPU window.
    const allTargets = {
      bare_worker: { url: `${baselines.url}/bare`, port: baselines.port },
      edgeserve_memory_only: { url: `${edgeserve.url}/pipelines/word-stats-memory/v1/process/sync`, port: edgeserve.port },
      edgeserve_memory_only_console: {
        url: `${edgeserveWithConsole.url}/pipelines/word-stats-memory/v1/process/sync`,
        port: edgeserveWithConsole.port,
      },
      handwritten_do: { url: `${doServer.url}/do`, port: doServer.port },
      handwritten_do_retained: { url: `${retainedServer.url}/do-retained`, port: retainedServer.port },
      handwritten_do_indexed: { url: `${indexedServer.url}/do-indexed`, port: indexedServer.port },
      sharded_floor: { url: `${baselines.url}/shard`, port: baselines.port },
      edgeserve_journal: { url: `${edgeserve.url}/pipelines/word-stats-journal/v1/process/sync`, port: edgeserve.port },
      edgeserve: { url: `${edgeserve.url}/v1/process/sync`, port: edgeserve.port },
    };
    // BENCH_TARGETS=edgeserve,handwritten_do narrows a run while investigating; ratios need all of them.
    const wanted = (env.BENCH_TARGETS ?? Object.keys(allTargets).join(",")).split(",");
    const targets = Object.fromEntries(Object.entries(allTargets).filter(([name]) => wanted.includes(name)));
    const rounds = await measureTargets(targets);
    const rows = await rowsWrittenPerRun(edgeserve.url, doServer.url);
    const indexed = await indexedBaselineListed(indexedServer.url, rounds);
    log("journal shard neighbour: a CPU-heavy run beside short ones…");
    const neighbour = await shardNeighbour(edgeserve.url);

    const results = {};
    for (const [phase, byTarget] of Object.entries(rounds)) {
      results[phase] = {};
      for (const [name, list] of Object.entries(byTarget)) results[phase][name] = combineRounds(list);
    }
    const ratiosByPhase = ratios(results);
    problems = wrongResults(rounds, firstRequest);
    if (indexed && indexed.listed < indexed.answered)
      problems.push(`handwritten_do_indexed listed ${indexed.listed} of the ${indexed.answered} runs it answered`);
    const report = {
      at: new Date().toISOString(),
      machine: loadAtStart,
      code: codeVersion(),
      workload: {
        pipeline: "word-stats",
        surface: "numaflow sync",
        deployment: "edgeserve targets API-only (wrangler.api-only.toml); edgeserve_memory_only_console on the default deployment, with its console",
        body_bytes: BODY.length,
        phases: PHASES,
        rounds: ROUNDS,
        min_samples_for_p99: MIN_SAMPLES,
        settle_ms_after_each_phase: SETTLE_MS,
      },
      results,
      ratios_edgeserve_to_baseline: ratiosByPhase,
      targets: targetChecks(ratiosByPhase, bundle, rows),
      bundle,
      first_request: firstRequest,
      sqlite_rows_written_per_run: rows,
      handwritten_do_indexed_listed: indexed,
      journal_shard_neighbour: neighbour,
      wrong_results: problems,
    };
    writeReport(report);
    printSummary(report);
    log("written to bench/results/latest.json");
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
  }
  if (problems.length > 0) {
    console.error(`\n[bench] wrong results, figures not to be trusted:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
