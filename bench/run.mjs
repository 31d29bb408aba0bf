#!/usr/bin/env node
// `npm run bench`: sync word-stats through edgeserve's Numaflow surface, against two baselines
// measured in the same run (bench/baselines/worker.ts): a bare Worker (the floor) and a
// hand-written Worker → Durable Object → one SQLite row. Loopback only, bounded in count and time.
// Prints p50, p99 and requests/s for each, edgeserve's ratios, the SQLite rows one run writes,
// and writes everything to bench/results/.
import autocannon from "autocannon";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { startDevServer } from "../scripts/dev-server.mjs";

const BODY = JSON.stringify({
  text: "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.",
});
/** Each phase stops at whichever comes first. */
const PHASES = [
  { name: "latency", connections: 1, amount: Number(process.env.BENCH_LATENCY_REQUESTS ?? 400), maxSeconds: 30 },
  { name: "throughput", connections: 16, amount: Number(process.env.BENCH_THROUGHPUT_REQUESTS ?? 3000), maxSeconds: 30 },
];
const WARMUP_REQUESTS = 100;
const SETTLE_MS = 5000;
/** Targets are measured in turn, round after round, and each figure is the median over rounds, so a
 * burst of noise on this machine moves one round, not the result. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const log = (message) => console.log(`[bench] ${message}`);

async function measure(url, { connections, amount, maxSeconds }) {
  const started = performance.now();
  const result = await new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        method: "POST",
        body: BODY,
        headers: { "content-type": "application/json" },
        connections,
        amount,
        duration: maxSeconds,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
  return { ...result, elapsedSeconds: (performance.now() - started) / 1000 };
}

function summary(result) {
  return {
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests_per_second: Math.round((result.requests.total / result.elapsedSeconds) * 10) / 10,
  };
}

async function rowsWrittenPerRun(edgeserve) {
  const id = `bench-rows-${Date.now()}`;
  await fetch(`${edgeserve}/v1/process/sync`, { method: "POST", body: BODY, headers: { "X-Numaflow-Id": id } });
  const record = await (await fetch(`${edgeserve}/v1/pipelines/word-stats/runs/${id}`)).json();
  return record.rows_written;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Per-field median of several rounds' summaries; error counts are summed, never hidden. */
function medianOf(list) {
  return {
    rounds: list.length,
    requests: list.reduce((total, r) => total + r.requests, 0),
    non2xx: list.reduce((total, r) => total + r.non2xx, 0),
    errors: list.reduce((total, r) => total + r.errors, 0),
    p50_ms: median(list.map((r) => r.p50_ms)),
    p99_ms: median(list.map((r) => r.p99_ms)),
    requests_per_second: median(list.map((r) => r.requests_per_second)),
  };
}

const ratio = (a, b) => (b === 0 ? null : Math.round((a / b) * 100) / 100);

async function main() {
  log("starting edgeserve (wrangler dev) and the baselines…");
  const [edgeserve, baselines] = await Promise.all([
    startDevServer(),
    startDevServer({ config: fileURLToPath(new URL("./baselines/wrangler.toml", import.meta.url)) }),
  ]);
  try {
    // The Run-object target goes last in each round: it leaves background work behind (index rows
    // draining through the queue), which must not be charged to the targets measured after it.
    const allTargets = {
      bare_worker: `${baselines.url}/bare`,
      edgeserve_memory_only: `${edgeserve.url}/pipelines/word-stats-memory/v1/process/sync`,
      handwritten_do: `${baselines.url}/do`,
      edgeserve: `${edgeserve.url}/v1/process/sync`,
    };
    // BENCH_TARGETS=edgeserve,handwritten_do narrows a run while investigating; ratios need all three.
    const wanted = (process.env.BENCH_TARGETS ?? Object.keys(allTargets).join(",")).split(",");
    const targets = Object.fromEntries(Object.entries(allTargets).filter(([name]) => wanted.includes(name)));
    for (const [name, url] of Object.entries(targets)) {
      log(`warming up ${name}`);
      await measure(url, { connections: 4, amount: WARMUP_REQUESTS, maxSeconds: 20 });
    }
    const rounds = {};
    for (let round = 1; round <= ROUNDS; round++) {
      for (const phase of PHASES) {
        for (const [name, url] of Object.entries(targets)) {
          log(`round ${round}/${ROUNDS} ${phase.name}: ${name}, ${phase.connections} connection(s), up to ${phase.amount} requests or ${phase.maxSeconds} s`);
          // Let background work of the previous target (index rows draining through the queue,
          // retention alarms) settle, so it is not charged to this one.
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
          const measured = summary(await measure(url, phase));
          ((rounds[phase.name] ??= {})[name] ??= []).push(measured);
          log(`  p50 ${measured.p50_ms} ms · p99 ${measured.p99_ms} ms · ${measured.requests_per_second} req/s · errors ${measured.errors} · non-2xx ${measured.non2xx}`);
        }
      }
    }
    const results = {};
    for (const [phase, byTarget] of Object.entries(rounds)) {
      results[phase] = {};
      for (const [name, list] of Object.entries(byTarget)) results[phase][name] = medianOf(list);
    }
    // edgeserve (Durable Object per run) against both baselines; memory-only against the bare Worker,
    // which does exactly what it does, minus edgeserve.
    const comparisons = [
      ["edgeserve", "bare_worker"],
      ["edgeserve", "handwritten_do"],
      ["edgeserve_memory_only", "bare_worker"],
    ];
    const ratios = {};
    for (const phase of PHASES) {
      const r = results[phase.name];
      ratios[phase.name] = {};
      for (const [ours, baseline] of comparisons) {
        if (!r[ours] || !r[baseline]) continue;
        ratios[phase.name][`${ours}_vs_${baseline}`] = {
          p50: ratio(r[ours].p50_ms, r[baseline].p50_ms),
          p99: ratio(r[ours].p99_ms, r[baseline].p99_ms),
          requests_per_second: ratio(r[ours].requests_per_second, r[baseline].requests_per_second),
        };
      }
    }
    const rows = await rowsWrittenPerRun(edgeserve.url);
    const report = {
      at: new Date().toISOString(),
      machine: {
        cpu: os.cpus()[0]?.model ?? "unknown",
        cores: os.cpus().length,
        memory_gib: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
        platform: `${os.platform()} ${os.release()}`,
      },
      workload: { pipeline: "word-stats", surface: "numaflow sync", body_bytes: BODY.length, phases: PHASES, rounds: ROUNDS },
      results,
      ratios_edgeserve_to_baseline: ratios,
      sqlite_rows_written_per_run: { edgeserve: rows, handwritten_do: 1 },
    };
    const dir = fileURLToPath(new URL("./results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    const json = `${JSON.stringify(report, null, 2)}\n`;
    writeFileSync(`${dir}latest.json`, json);
    writeFileSync(`${dir}${report.at.replace(/[:.]/g, "-")}.json`, json);
    log("ratios (edgeserve ÷ baseline; latency lower is better, req/s higher is better):");
    console.log(JSON.stringify(ratios, null, 2));
    log(`SQLite rows written per run: edgeserve ${rows}, hand-written DO 1`);
    log(`written to bench/results/latest.json`);
  } finally {
    await Promise.all([edgeserve.stop(), baselines.stop()]);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
