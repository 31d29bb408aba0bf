#!/usr/bin/env node
// `npm run chaos`: durable execution under faults, against `wrangler dev`. Starts runs of
// `slow-stats` (its `count` step runs in the stage queue's consumer) with bounded concurrency,
// while a share of consumer invocations throw at a random point and Run objects are reset at random
// moments. At the end it checks that every accepted run reached exactly one terminal state with the
// same result as `word-stats` gives for its input, prints the counts, writes them to
// bench/results/chaos-latest.json, and exits non-zero if any run broke that promise.
//
// The faults come from the development-only switches in src/chaos.ts (EDGESERVE_CHAOS=on, set only
// for this server; wrangler.toml never sets it). Options (environment variables):
//   CHAOS_RUNS (500), CHAOS_CONCURRENCY (16), CHAOS_STAGE_FAILURE_RATE (0.2),
//   CHAOS_EVICT_RATE (0.3: the share of runs whose Run object is reset once, 0–1.5 s after it
//   starts), CHAOS_SETTLE_SECONDS (180: how long runs may take to end after the last start).
import { createParser } from "eventsource-parser";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startDevServer } from "./dev-server.mjs";

const RUNS = Number(process.env.CHAOS_RUNS ?? 500);
const CONCURRENCY = Number(process.env.CHAOS_CONCURRENCY ?? 16);
const STAGE_FAILURE_RATE = Number(process.env.CHAOS_STAGE_FAILURE_RATE ?? 0.2);
const EVICT_RATE = Number(process.env.CHAOS_EVICT_RATE ?? 0.3);
const SETTLE_SECONDS = Number(process.env.CHAOS_SETTLE_SECONDS ?? 180);
const PIPELINE = "slow-stats";
/** How a run is started; each is a different way for a client to get a run id. */
const MODES = ["sync", "async", "sse"];
const WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "Ünïcödé", "naïve", "42"];

const log = (message) => console.log(`[chaos] ${message}`);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function randomText(i) {
  const length = 3 + Math.floor(Math.random() * 40);
  const words = Array.from({ length }, () => WORDS[Math.floor(Math.random() * WORDS.length)]);
  return `Run ${i}: ${words.join(" ")}.`;
}

/** Reads a Numaflow SSE response to its end; a stream cut by a reset ends early, which is fine. */
async function drainSse(response) {
  const parser = createParser({ onEvent: () => {} });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch {
    // cut by the reset of its Run object: the run goes on, and is checked at the end
  }
}

/** Starts one run; returns whether the server accepted it (answered with its id). */
async function startRun(url, run) {
  const headers = { "content-type": "application/json", "x-numaflow-id": run.id };
  const body = JSON.stringify({ text: run.text });
  const base = `${url}/pipelines/${PIPELINE}/v1/process`;
  try {
    const res = await fetch(`${base}/${run.mode}`, { method: "POST", headers, body, signal: AbortSignal.timeout(60_000) });
    run.startStatus = res.status;
    if (run.mode === "sse" && res.status === 200) await drainSse(res);
    else await res.arrayBuffer();
    // 200: answered or published; 408: the sync wait ran out with the run going on (Numaflow).
    return res.status === 200 || res.status === 408;
  } catch (error) {
    run.startStatus = `error: ${error.message}`;
    return false;
  }
}

async function resetLater(url, run) {
  await pause(Math.random() * 1500);
  const res = await fetch(`${url}/_chaos/runs/${PIPELINE}/${run.id}/evict`, { method: "POST" });
  if (res.status !== 202) throw new Error(`the chaos route answered ${res.status}: is EDGESERVE_CHAOS on?`);
  run.resets += 1;
}

async function record(url, id) {
  const res = await fetch(`${url}/v1/pipelines/${PIPELINE}/runs/${encodeURIComponent(id)}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) return { status: `unreadable (${res.status})` };
  return res.json();
}

/** word-stats (all inline, untouched by the consumer faults) is the oracle for each input. */
async function expectedResult(url, text) {
  const res = await fetch(`${url}/pipelines/word-stats/v1/process/sync`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ text }),
  });
  if (res.status !== 200) throw new Error(`word-stats answered ${res.status}`);
  return res.text();
}

async function main() {
  log(`${RUNS} runs of ${PIPELINE}, ${CONCURRENCY} at a time; stage failure rate ${STAGE_FAILURE_RATE}, reset rate ${EVICT_RATE}`);
  // The server logs each consumer crash it injects, with the point where it happened.
  const crashes = {};
  const server = await startDevServer({
    log: (line) => {
      const point = /injected a consumer crash ([a-z-]+)/.exec(line)?.[1];
      if (point) crashes[point] = (crashes[point] ?? 0) + 1;
    },
    env: {
      EDGESERVE_CHAOS: "on",
      EDGESERVE_CHAOS_STAGE_FAILURE_RATE: String(STAGE_FAILURE_RATE),
      // Faster recovery than production's defaults, so the run is bounded in time.
      EDGESERVE_WATCHDOG_SECONDS: "2",
      EDGESERVE_STAGE_LEASE_SECONDS: "15",
      EDGESERVE_REQUEST_TIMEOUT_SECONDS: "30",
    },
  });
  const started = performance.now();
  try {
    const runs = Array.from({ length: RUNS }, (_, i) => ({
      id: `chaos-${Date.now().toString(36)}-${i}`,
      text: randomText(i),
      mode: MODES[i % MODES.length],
      evict: Math.random() < EVICT_RATE,
      resets: 0,
      accepted: false,
    }));

    // Start every run, CONCURRENCY at a time, resetting some Run objects while they work.
    let next = 0;
    const resets = [];
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < runs.length) {
          const run = runs[next++];
          if (run.evict) resets.push(resetLater(server.url, run).catch((error) => (run.resetError = error.message)));
          run.accepted = await startRun(server.url, run);
        }
      }),
    );
    await Promise.all(resets);
    log(`started ${runs.length} runs in ${((performance.now() - started) / 1000).toFixed(1)} s; waiting for them to end`);

    // Every accepted run must end; runs whose start failed are checked too, if they exist.
    const deadline = Date.now() + SETTLE_SECONDS * 1000;
    let open = runs;
    while (open.length > 0 && Date.now() < deadline) {
      const still = [];
      for (const run of open) {
        run.record = await record(server.url, run.id);
        const status = run.record?.status;
        if (run.record === undefined ? run.accepted : status === "running" || status === "pending") still.push(run);
      }
      open = still;
      if (open.length > 0) await pause(1000);
    }

    const counts = {
      runs: runs.length,
      accepted: 0,
      startFailed: 0,
      resetsSent: 0,
      completedRight: 0,
      completedWrong: 0,
      failed: 0,
      cancelled: 0,
      notEnded: 0,
      lost: 0,
      stepAttempts: 0,
      stepRetries: 0,
    };
    const problems = [];
    for (const run of runs) {
      counts.resetsSent += run.resets;
      if (run.accepted) counts.accepted += 1;
      else counts.startFailed += 1;
      const r = run.record;
      if (r === undefined) {
        if (run.accepted) {
          counts.lost += 1;
          problems.push(`${run.id}: accepted (${run.startStatus}) but unknown`);
        }
        continue;
      }
      counts.stepAttempts += r.steps?.count?.started ?? 0;
      counts.stepRetries += r.steps?.count?.retried ?? 0;
      if (r.status === "completed") {
        const got = JSON.stringify(r.results?.[0]);
        const want = JSON.stringify(JSON.parse(await expectedResult(server.url, run.text)));
        if (got === want && r.result_count === 1) counts.completedRight += 1;
        else {
          counts.completedWrong += 1;
          problems.push(`${run.id}: completed with ${got} (${r.result_count} results), expected ${want}`);
        }
      } else if (r.status === "failed") {
        counts.failed += 1;
        problems.push(`${run.id}: failed: ${r.error?.message}`);
      } else if (r.status === "cancelled") {
        counts.cancelled += 1;
        problems.push(`${run.id}: cancelled`);
      } else {
        counts.notEnded += 1;
        problems.push(`${run.id}: still ${r.status} after ${SETTLE_SECONDS} s`);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    for (const [point, n] of Object.entries(crashes)) counts[`consumerCrashes ${point}`] = n;
    console.table(counts);
    for (const problem of problems.slice(0, 20)) log(`problem: ${problem}`);
    const report = {
      at: new Date().toISOString(),
      options: { runs: RUNS, concurrency: CONCURRENCY, stageFailureRate: STAGE_FAILURE_RATE, evictRate: EVICT_RATE },
      seconds: Math.round(seconds),
      counts,
      problems,
    };
    const dir = fileURLToPath(new URL("../bench/results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}chaos-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
    log(
      `${problems.length === 0 ? "PASS" : "FAIL"}: ${counts.completedRight} of ${counts.accepted} accepted runs completed with the right result in ${seconds.toFixed(0)} s`,
    );
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    await server.stop();
  }
}

await main();
