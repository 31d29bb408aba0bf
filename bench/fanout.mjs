#!/usr/bin/env node
// `npm run bench:fanout`: one `chat` run watched by 1 and then by 1,000 concurrent SSE subscribers
// on loopback. The example model server runs in this process, so the script knows when it sent
// each chunk: every subscriber connects first (each has its `run_started`), then the model is let
// go, and each delta's delay is its receipt by a subscriber minus the model's send. Reports, for
// each run: deltas delivered (every one, to every subscriber), the delay's p50 and p99, and the
// rows the run wrote; checks the targets (every delta to every subscriber; p99 with 1,000 ≤ 2× p99
// with one; rows ≤ streaming time / 100 ms + the run's own 4). Writes
// bench/results/fanout-latest.json. Exits 1 when a delta was lost or a run went wrong (a result
// that is wrong), not when a target is missed.
//   FANOUT_SUBSCRIBERS (1000), FANOUT_WORDS (80), FANOUT_DELAY_MS (25: the model's pace)
import { mkdirSync, writeFileSync } from "node:fs";
import { Agent, get } from "node:http";
import { createParser } from "eventsource-parser";
import { startModelServer } from "../examples/model/server.mjs";
import { startDevServer } from "../scripts/dev-server.mjs";

const SUBSCRIBERS = Number(process.env.FANOUT_SUBSCRIBERS ?? 1000);
const WORDS = Number(process.env.FANOUT_WORDS ?? 80);
const DELAY_MS = Number(process.env.FANOUT_DELAY_MS ?? 25);
/** A run's own rows besides its deltas: its first burst and its last (an entry and an alarm each). */
const RUN_OWN_ROWS = 4;

/** Gates the model's reply to each tagged run until every subscriber is there, and notes its chunks' send times. */
const gates = new Map();
const sentAt = new Map();
const gateOf = (tag) => {
  if (!gates.has(tag)) {
    let open;
    const opened = new Promise((resolve) => (open = resolve));
    let arrived;
    const reached = new Promise((resolve) => (arrived = resolve));
    gates.set(tag, { opened, open, reached, arrived });
  }
  return gates.get(tag);
};

const model = await startModelServer({
  port: 0,
  delayMs: DELAY_MS,
  hold: (tag) => {
    const gate = gateOf(tag);
    gate.arrived();
    return gate.opened;
  },
  onChunk: (tag, index, at) => {
    if (!sentAt.has(tag)) sentAt.set(tag, []);
    sentAt.get(tag)[index] = at;
  },
});
const server = await startDevServer({ env: { EDGESERVE_MODEL_URL: model.url, EDGESERVE_MAX_SUBSCRIBERS: String(Math.max(SUBSCRIBERS, 1000)) } });
/** One connection per subscriber, none reused: each stream holds its socket for the whole run. */
const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
const words = Array.from({ length: WORDS }, (_, i) => `w${i}`);
const reply = [...words].reverse().join(" ");

/**
 * One subscriber: reads the run's events over a plain `node:http` request (a thousand of them in
 * one process: fetch's web streams would cost the client more than the server's work), resolves
 * `ready` at its first event, and notes when each delta arrived; ends at the run's end.
 */
function subscribe(id) {
  let connected;
  const ready = new Promise((resolve) => (connected = resolve));
  const done = new Promise((resolve, reject) => {
    const received = [];
    let text = "";
    const parser = createParser({
      onEvent: (event) => {
        connected();
        if (event.event === "step_delta") {
          const delta = JSON.parse(event.data);
          received[delta.index] = Date.now();
          text += delta.delta;
        }
        if (event.event === "run_completed" || event.event === "run_failed" || event.event === "run_cancelled") {
          request.destroy();
          resolve({ received, text, ended: event.event });
        }
      },
    });
    const request = get(`${server.url}/v1/pipelines/chat/runs/${id}/events`, { agent, headers: { accept: "text/event-stream" } }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`a subscriber was answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.setEncoding("utf8");
      res.on("data", (chunk) => parser.feed(chunk));
      res.on("end", () => resolve({ received, text, ended: "closed" }));
    });
    // After the run's end the request is destroyed on purpose; a promise settles once, so that is no error.
    request.on("error", reject);
  });
  done.catch(() => connected());
  return { ready, done };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(subscribers) {
  const tag = `fanout-${subscribers}-${Date.now()}`;
  const id = `fanout-${subscribers}-${Date.now()}`;
  const started = await fetch(`${server.url}/pipelines/chat/v1/process/async`, {
    method: "POST",
    headers: { "content-type": "application/json", "X-Numaflow-Id": id },
    body: JSON.stringify({ prompt: `!tag=${tag} ${words.join(" ")}` }),
  });
  if (started.status !== 200) throw new Error(`starting the run answered ${started.status}: ${await started.text()}`);
  const gate = gateOf(tag);
  await gate.reached;
  const watchers = Array.from({ length: subscribers }, () => subscribe(id));
  await Promise.all(watchers.map((w) => w.ready));
  gate.open();
  const outcomes = await Promise.allSettled(watchers.map((w) => w.done));
  const sent = sentAt.get(tag) ?? [];
  const delays = [];
  let delivered = 0;
  let wrongText = 0;
  const failures = [];
  for (const outcome of outcomes) {
    if (outcome.status === "rejected") {
      failures.push(String(outcome.reason));
      continue;
    }
    const { received, text } = outcome.value;
    for (let i = 0; i < WORDS; i++) {
      if (received[i] === undefined) continue;
      delivered += 1;
      delays.push(received[i] - sent[i]);
    }
    if (text !== reply) wrongText += 1;
  }
  delays.sort((a, b) => a - b);
  const record = await (await fetch(`${server.url}/v1/pipelines/chat/runs/${id}`)).json();
  const streamingMs = sent.length > 1 ? sent[sent.length - 1] - sent[0] : 0;
  return {
    subscribers,
    deltas: WORDS,
    delivered,
    expected: WORDS * subscribers,
    wrong_text: wrongText,
    failures: failures.slice(0, 5),
    failed_subscribers: failures.length,
    delay_p50_ms: percentile(delays, 50),
    delay_p99_ms: percentile(delays, 99),
    streaming_ms: streamingMs,
    status: record.status,
    rows_written: record.rows_written,
    rows_bound: Math.ceil(streamingMs / 100) + RUN_OWN_ROWS,
  };
}

let results;
try {
  const one = await measure(1);
  const many = await measure(SUBSCRIBERS);
  results = { one, many };
} finally {
  await server.stop();
  await model.stop();
}

const { one, many } = results;
console.log("subscribers  delivered        p50 ms  p99 ms  streaming ms  rows (bound)  status");
for (const r of [one, many]) {
  console.log(
    `${String(r.subscribers).padStart(11)}  ${`${r.delivered}/${r.expected}`.padEnd(15)}  ${String(r.delay_p50_ms).padStart(6)}  ${String(r.delay_p99_ms).padStart(6)}  ${String(r.streaming_ms).padStart(12)}  ${`${r.rows_written} (${r.rows_bound})`.padStart(12)}  ${r.status}`,
  );
}
const targets = [
  ["every delta to every subscriber", one.delivered === one.expected && many.delivered === many.expected, `${many.delivered}/${many.expected}`],
  [`p99 with ${SUBSCRIBERS} ≤ 2× p99 with one`, many.delay_p99_ms <= 2 * one.delay_p99_ms, `${many.delay_p99_ms} ms vs ${one.delay_p99_ms} ms`],
  [
    "rows ≤ streaming time / 100 ms + the run's own",
    many.rows_written <= many.rows_bound && one.rows_written <= one.rows_bound,
    `${many.rows_written} ≤ ${many.rows_bound}`,
  ],
];
console.log("\ntargets:");
for (const [name, pass, measured] of targets) console.log(`  ${pass ? "PASS" : "FAIL"}  ${name}: ${measured}`);

mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/fanout-latest.json", import.meta.url),
  `${JSON.stringify({ at: new Date().toISOString(), words: WORDS, delay_ms: DELAY_MS, one, many, targets: targets.map(([name, pass, measured]) => ({ name, pass, measured })) }, null, 2)}\n`,
);

// A check that can fail: lost deltas, a wrong reply or a run that did not complete is a wrong result.
const wrong = [one, many].filter((r) => r.delivered !== r.expected || r.wrong_text > 0 || r.failed_subscribers > 0 || r.status !== "completed");
if (wrong.length > 0) {
  console.error(
    `[fanout] FAIL: ${wrong.map((r) => `${r.subscribers} subscribers: ${r.delivered}/${r.expected} delivered, ${r.wrong_text} wrong texts, ${r.failed_subscribers} failed (${r.failures.join("; ")}), run ${r.status}`).join(" · ")}`,
  );
  process.exit(1);
}
console.log("[fanout] every delta reached every subscriber");
