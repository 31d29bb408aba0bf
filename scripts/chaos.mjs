#!/usr/bin/env node
// `npm run chaos`: durable execution under faults, against `wrangler dev`. Starts runs of
// `slow-stats` (its `count` step runs in the stage queue's consumer) with bounded concurrency,
// while a share of consumer invocations throw at a random point and Run objects are reset at random
// moments. At the end it checks that every accepted run reached exactly one terminal state with the
// same result as `word-stats` gives for its input, prints the counts, writes them to
// bench/results/chaos-latest.json, and exits non-zero if any run broke that promise. A start that
// fails is allowed only as 503 run_unavailable (a reset may cut it); any other failed start, such
// as a 500, is a defect and fails the check too.
//
// It also fails when the faults did not happen: a pass must mean that live runs were hit. A reset
// counts only if it hit its run in flight, judged from the run's own events (the reset's time,
// which the chaos route bounds, falls after `run_started` and before the terminal event); a reset
// before the start or after the end proves nothing. Consumer crashes are counted from the server's
// log line, which names the stage (so the run) each one hit. No reset in flight, no crash, or any
// reset the server failed to make: FAIL.
//
// The faults come from the development-only switches in src/chaos.ts (EDGESERVE_CHAOS=on, set only
// for this server; wrangler.toml never sets it). Options (environment variables):
//   CHAOS_PIPELINE (slow-stats; slow-stats-journal runs the same on the journal host, where a reset
//   resets a whole shard and every run it holds), CHAOS_RUNS (500), CHAOS_CONCURRENCY (16),
//   CHAOS_STAGE_FAILURE_RATE (0.2),
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
const PIPELINE = process.env.CHAOS_PIPELINE ?? "slow-stats";
/** How a run is started; each is a different way for a client to get a run id. */
const MODES = ["sync", "async", "sse"];
const WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "Ünïcödé", "naïve", "42"];
const TERMINAL_EVENTS = ["run_completed", "run_failed", "run_cancelled"];

const log = (message) => console.log(`[chaos] ${message}`);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function randomText(i) {
  const length = 3 + Math.floor(Math.random() * 40);
  const words = Array.from({ length }, () => WORDS[Math.floor(Math.random() * WORDS.length)]);
  return `Run ${i}: ${words.join(" ")}.`;
}

/** Reads an SSE response to its end and returns its events; a stream cut by a reset ends early. */
async function readSse(response) {
  const events = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of response.body) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch {
    // cut by the reset of its Run object: the run goes on, and is checked at the end
  }
  return events;
}

/** Starts one run; returns whether the server accepted it (answered with its id). */
async function startRun(url, run) {
  const headers = { "content-type": "application/json", "x-numaflow-id": run.id };
  const body = JSON.stringify({ text: run.text });
  const base = `${url}/pipelines/${PIPELINE}/v1/process`;
  try {
    const res = await fetch(`${base}/${run.mode}`, { method: "POST", headers, body, signal: AbortSignal.timeout(60_000) });
    run.startStatus = res.status;
    if (run.mode === "sse" && res.status === 200) await readSse(res);
    else if (res.status >= 400) run.startCode = (await res.json().catch(() => null))?.error_code;
    else await res.arrayBuffer();
    // 200: answered or published; 408: the sync wait ran out with the run going on (Numaflow).
    return res.status === 200 || res.status === 408;
  } catch (error) {
    run.startStatus = `error: ${error.message}`;
    return false;
  }
}

/**
 * Resets the run's object once, 0–1.5 s after its start is sent. The route answers 202 only when
 * the object was reset, with the window the reset happened in; anything else is a reset error.
 */
async function resetLater(url, run) {
  await pause(Math.random() * 1500);
  try {
    const res = await fetch(`${url}/_chaos/runs/${PIPELINE}/${run.id}/evict`, { method: "POST" });
    const body = await res.json().catch(() => null);
    if (res.status === 202) run.resets.push({ notBefore: body.not_before, notAfter: body.not_after });
    else run.resetErrors.push(`HTTP ${res.status} ${body?.code ?? ""}: ${body?.message ?? ""}`);
  } catch (error) {
    run.resetErrors.push(`network: ${error.message}`);
  }
}

async function record(url, id) {
  const res = await fetch(`${url}/v1/pipelines/${PIPELINE}/runs/${encodeURIComponent(id)}`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) return { status: `unreadable (${res.status})` };
  return res.json();
}

/** The run's own event log (native SSE), as `{ type, at (ms), step, data }`; undefined if unreadable. */
async function runEvents(url, id) {
  const res = await fetch(`${url}/v1/runs/${encodeURIComponent(id)}/events`);
  if (res.status !== 200) return undefined;
  return (await readSse(res)).map((e) => {
    const event = JSON.parse(e.data);
    return { ...event, at: Date.parse(event.at) };
  });
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

/**
 * Where a reset fell in its run's life, from the run's events: `in-flight` only when the whole
 * window the route gave lies strictly after `run_started` and before the terminal event.
 */
function resetPlace(reset, events) {
  const started = events.find((e) => e.type === "run_started")?.at;
  const ended = events.find((e) => TERMINAL_EVENTS.includes(e.type))?.at;
  if (started === undefined || reset.notBefore <= started) return "before-start";
  if (ended !== undefined && reset.notAfter >= ended) return "after-end";
  return "in-flight";
}

/** The server's log line for an injected crash names its point and its stage `<pipeline>/<run id>/<step>/<n>`. */
function crashOf(line) {
  const match = /injected a consumer crash ([a-z-]+) at ([^/\s]+)\/(\S+)\/([^/\s]+)\/\d+/.exec(line);
  return match ? { point: match[1], pipeline: match[2], runId: match[3], step: match[4] } : undefined;
}

/** Starts every run, CONCURRENCY at a time, resetting some Run objects while they work. */
async function startAll(url, runs) {
  let next = 0;
  const resets = [];
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < runs.length) {
        const run = runs[next++];
        if (run.evict) resets.push(resetLater(url, run));
        run.accepted = await startRun(url, run);
      }
    }),
  );
  await Promise.all(resets);
}

/** Polls until every accepted run has ended (or the settle time is over); each run's last record is kept. */
async function settle(url, runs) {
  const deadline = Date.now() + SETTLE_SECONDS * 1000;
  let open = runs;
  while (open.length > 0 && Date.now() < deadline) {
    const still = [];
    for (const run of open) {
      run.record = await record(url, run.id);
      const status = run.record?.status;
      if (run.record === undefined ? run.accepted : status === "running" || status === "pending") still.push(run);
    }
    open = still;
    if (open.length > 0) await pause(1000);
  }
}

/** Checks each run's end state and result; returns the problems found. */
async function judgeOutcomes(url, runs, counts) {
  const problems = [];
  for (const run of runs) {
    if (run.accepted) counts.accepted += 1;
    else {
      counts.startFailed += 1;
      // 503 run_unavailable is the documented answer when the run's object cannot be reached (a
      // reset can cut a start); anything else (500 internal_error, a dropped connection) is a defect.
      if (run.startStatus !== 503) problems.push(`${run.id}: its ${run.mode} start answered ${run.startStatus} ${run.startCode ?? ""}`);
    }
    const r = run.record;
    if (r === undefined) {
      if (run.accepted) {
        counts.lost += 1;
        problems.push(`${run.id}: accepted (${run.startStatus}) but unknown`);
      }
      continue;
    }
    // The client was told the start failed, yet the run exists (the reset cut the answer, not the start).
    if (!run.accepted) counts.ranAfterFailedStart += 1;
    counts.stepAttempts += r.steps?.count?.started ?? 0;
    counts.stepRetries += r.steps?.count?.retried ?? 0;
    if (r.status === "completed") {
      const got = JSON.stringify(r.results?.[0]);
      const want = JSON.stringify(JSON.parse(await expectedResult(url, run.text)));
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
  return problems;
}

/** Counts the faults that really hit live runs (resets placed by the run's events, crashes by stage); returns the problems. */
async function judgeFaults(url, runs, crashes, counts) {
  const problems = [];
  const crashedRuns = new Set();
  for (const crash of crashes) {
    counts[`consumerCrashes ${crash.point}`] += 1;
    counts[`consumerCrashes in step ${crash.step}`] = (counts[`consumerCrashes in step ${crash.step}`] ?? 0) + 1;
    if (crash.pipeline === PIPELINE) crashedRuns.add(crash.runId);
  }
  counts.consumerCrashes = crashes.length;
  for (const run of runs) {
    counts.resetsSent += run.resets.length + run.resetErrors.length;
    counts.resetErrors += run.resetErrors.length;
    for (const error of run.resetErrors) problems.push(`${run.id}: the reset was not made: ${error}`);
    // A run that does not exist (its start was refused) has no events: its resets hit no run.
    const events = run.resets.length > 0 && run.record !== undefined ? await runEvents(url, run.id) : [];
    if (events === undefined) {
      problems.push(`${run.id}: its events could not be read to place its reset`);
      continue;
    }
    let hitInFlight = false;
    for (const reset of run.resets) {
      const place = resetPlace(reset, events);
      counts[place === "in-flight" ? "resetsInFlight" : place === "before-start" ? "resetsBeforeStart" : "resetsAfterEnd"] += 1;
      hitInFlight ||= place === "in-flight";
    }
    if (hitInFlight || crashedRuns.has(run.id)) counts.runsHitByFault += 1;
  }
  if (counts.resetsInFlight === 0) problems.push("no reset hit a run in flight: the check proved nothing about resets");
  if (counts.consumerCrashes === 0) problems.push("no consumer crash was injected: the check proved nothing about crashes");
  return problems;
}

function writeReport(counts, problems, seconds) {
  const report = {
    at: new Date().toISOString(),
    options: { runs: RUNS, concurrency: CONCURRENCY, stageFailureRate: STAGE_FAILURE_RATE, evictRate: EVICT_RATE },
    seconds: Math.round(seconds),
    counts,
    problems,
  };
  const dir = fileURLToPath(new URL("../bench/results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${dir}${PIPELINE === "slow-stats" ? "chaos" : `chaos-${PIPELINE}`}-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
}

async function main() {
  log(`${RUNS} runs of ${PIPELINE}, ${CONCURRENCY} at a time; stage failure rate ${STAGE_FAILURE_RATE}, reset rate ${EVICT_RATE}`);
  // The server logs each consumer crash it injects, with its point and the stage it hit.
  const crashes = [];
  const server = await startDevServer({
    log: (line) => {
      const crash = crashOf(line);
      if (crash) crashes.push(crash);
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
      resets: [],
      resetErrors: [],
      accepted: false,
    }));
    await startAll(server.url, runs);
    log(`started ${runs.length} runs in ${((performance.now() - started) / 1000).toFixed(1)} s; waiting for them to end`);
    await settle(server.url, runs);

    const counts = {
      runs: runs.length,
      accepted: 0,
      startFailed: 0,
      ranAfterFailedStart: 0,
      completedRight: 0,
      completedWrong: 0,
      failed: 0,
      cancelled: 0,
      notEnded: 0,
      lost: 0,
      resetsSent: 0,
      resetErrors: 0,
      resetsInFlight: 0,
      resetsBeforeStart: 0,
      resetsAfterEnd: 0,
      consumerCrashes: 0,
      "consumerCrashes before-claim": 0,
      "consumerCrashes after-claim": 0,
      "consumerCrashes after-run": 0,
      "consumerCrashes after-report": 0,
      runsHitByFault: 0,
      stepAttempts: 0,
      stepRetries: 0,
    };
    const problems = [...(await judgeOutcomes(server.url, runs, counts)), ...(await judgeFaults(server.url, runs, crashes, counts))];
    const seconds = (performance.now() - started) / 1000;
    console.table(counts);
    for (const problem of problems.slice(0, 20)) log(`problem: ${problem}`);
    // Not a broken promise (the client was told, and no run exists), but worth seeing.
    for (const run of runs.filter((r) => !r.accepted).slice(0, 10)) {
      log(
        `start not accepted: ${run.id} (${run.mode}): ${run.startStatus} ${run.startCode ?? ""}${run.record ? `; the run exists (${run.record.status})` : ""}`,
      );
    }
    writeReport(counts, problems, seconds);
    const faults = `${counts.resetsInFlight} resets in flight, ${counts.consumerCrashes} consumer crashes, ${counts.runsHitByFault} runs hit by a fault`;
    const verdict = problems.length === 0 ? "PASS" : `FAIL (${problems.length} problems)`;
    const ran = `${counts.completedRight} of ${counts.accepted + counts.ranAfterFailedStart} runs completed with the right result`;
    const starts = `${counts.accepted} accepted, ${counts.startFailed} starts failed (${counts.ranAfterFailedStart} of those runs exist)`;
    log(`${verdict}: ${ran} (${starts}) in ${seconds.toFixed(0)} s; ${faults}`);
    process.exitCode = problems.length === 0 ? 0 : 1;
  } finally {
    await server.stop();
  }
}

await main();
