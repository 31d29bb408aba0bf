/**
 * Pipelines that exist only in tests: they fail, fan out and fan in on purpose. Registered in the
 * test isolate's catalog by `test/setup.ts`; the Run objects of the tests share that isolate.
 */
import { z } from "zod";
import { registerPipeline } from "../../src/catalog";
import { definePipeline, type StepContext, type StepFunction } from "../../src/pipeline/definition";
import { shout, split } from "../../examples/pipelines/sentences";
import { sleepInput as exampleSleepInput, sleep } from "../../examples/pipelines/sleep";
import { remotePipelines } from "./remote-pipelines";

/** One retry, straight away: for steps whose first attempt fails on purpose. */
const retryOnceAtOnce = { maxAttempts: 2, backoffSeconds: 0, backoffMultiplier: 1, maxBackoffSeconds: 0 };

/** Counts a step function's calls in one run (`calls` is that function's own): 1 on its first call. */
function nthCall(calls: Map<string, number>, runId: string): number {
  const n = (calls.get(runId) ?? 0) + 1;
  calls.set(runId, n);
  return n;
}

const failInput = z.strictObject({ fail: z.boolean(), waitMs: z.number().int().min(0).optional() });

export const failing = definePipeline({
  name: "test-failing",
  input: failInput,
  steps: [
    { name: "check", kind: "inline", run: (m) => ({ value: m.value }) },
    {
      name: "explode",
      kind: "inline",
      run: async (m) => {
        const { fail, waitMs } = failInput.parse(m.value);
        if (waitMs) await new Promise((resolve) => setTimeout(resolve, waitMs));
        if (fail) throw new Error("exploded on purpose");
        return { value: { ok: true } };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "check", to: "explode" },
    { from: "explode", to: "out" },
  ],
});

const numbersInput = z.strictObject({ n: z.number().int().min(0).max(50) });

/** Fans out to two branches (`double`, and `keep` for even numbers only) that fan in to the sink. */
export const fanout = definePipeline({
  name: "test-fanout",
  input: numbersInput,
  steps: [
    {
      name: "spread",
      kind: "inline",
      run: (m) => {
        const { n } = numbersInput.parse(m.value);
        return Array.from({ length: n }, (_, i) => ({ value: i, tags: [i % 2 === 0 ? "even" : "odd"] }));
      },
    },
    { name: "double", kind: "inline", run: async (m) => ({ value: (m.value as number) * 2 }) },
    { name: "keep", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "spread", to: "double" },
    { from: "spread", to: "keep", conditions: { operator: "all", tags: ["even"] } },
    { from: "double", to: "out" },
    { from: "keep", to: "out" },
  ],
});

const anyObject = z.record(z.string(), z.json());

/** Echoes its input through two steps; `hidden` keeps its values out of capture (step policy). */
export const echo = definePipeline({
  name: "test-echo",
  input: anyObject,
  steps: [
    { name: "open", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "hidden", kind: "inline", run: (m) => ({ value: m.value }), capture: { mode: "metadata" } },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "open", to: "hidden" },
    { from: "hidden", to: "out" },
  ],
});

const inflateInput = z.strictObject({ chars: z.number().int().min(0).max(3_000_000) });

/** Answers a small input with a result of `chars` characters: a large result whose input was small. */
export const inflate = definePipeline({
  name: "test-inflate",
  input: inflateInput,
  steps: [
    { name: "grow", kind: "inline", run: (m) => ({ value: "z".repeat(inflateInput.parse(m.value).chars) }) },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "grow", to: "out" }],
});

const wideInput = z.strictObject({ n: z.number().int().min(0).max(5000), spins: z.number().int().min(0).max(10_000_000) });

/** Spins the CPU for `spins` rounds: a step that takes time without awaiting anything. */
function spin(spins: number): number {
  let x = 0;
  for (let i = 0; i < spins; i++) x = (x * 31 + i) % 1_000_003;
  return x;
}

/**
 * A wide fan-out of CPU-bound inline steps, answered within 1 s: `n` items, each spinning `spins`
 * rounds, none awaiting anything (a run longer than one burst may be).
 */
export const wideCpu = definePipeline({
  name: "test-wide-cpu",
  input: wideInput,
  requestTimeoutSeconds: 1,
  steps: [
    {
      name: "spread",
      kind: "inline",
      run: (m) => {
        const { n, spins } = wideInput.parse(m.value);
        return Array.from({ length: n }, () => ({ value: spins }));
      },
    },
    { name: "burn", kind: "inline", run: (m) => ({ value: spin(m.value as number) }) },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "spread", to: "burn" },
    { from: "burn", to: "out" },
  ],
});

/** Calls of test-fail-fast's `work` step, per run. */
export const failFastCalls = new Map<string, number>();

/** Spreads ten items whose third fails its step (no retry): the run fails in the burst that runs them. */
export const failFast = definePipeline({
  name: "test-fail-fast",
  input: z.json(),
  steps: [
    { name: "spread", kind: "inline", run: () => Array.from({ length: 10 }, (_, i) => ({ value: i })) },
    {
      name: "work",
      kind: "inline",
      run: (m, context) => {
        nthCall(failFastCalls, context.runId);
        if (m.value === 2) throw new Error("item 2 fails");
        return { value: m.value };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "spread", to: "work" },
    { from: "work", to: "out" },
  ],
});

/** The same, with runtime OFF: runs keep their results but are not indexed. */
export const unindexed = definePipeline({ ...echo, name: "test-unindexed", runtime: "OFF" });

/** The same, kept for one second after it ends (per-pipeline retention). */
export const shortRetention = definePipeline({ ...echo, name: "test-short-retention", retentionSeconds: 1 });

/** The same, keeping finished runs' results in Workers KV and in R2. */
export const kvResults = definePipeline({ ...echo, name: "test-kv-results", resultStore: "kv" });
export const r2Results = definePipeline({ ...echo, name: "test-r2-results", resultStore: "r2" });

/**
 * The same, with runtime BATCH: runs are indexed once, when they end. A run whose input names a
 * gate (`hold`, see `holdStage`) keeps running at its first step until the test opens the gate.
 */
export const batch = definePipeline({
  ...echo,
  name: "test-batch",
  runtime: "BATCH",
  steps: [
    {
      name: "open",
      kind: "inline",
      run: async (m) => {
        await passGate(holdOf(m.value));
        return { value: m.value };
      },
    },
    { name: "hidden", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "out", kind: "sink" },
  ],
});

const sleepInput = z.strictObject({ ms: z.number().int().min(0).max(10_000) });

/** A pipeline whose one step sleeps `ms`, behind the given admission limits. */
function napping(name: string, admission: { maxConcurrency: number; maxQueueSize: number }) {
  return definePipeline({
    name,
    input: sleepInput,
    admission,
    steps: [
      {
        name: "nap",
        kind: "inline",
        run: async (m) => {
          const { ms } = sleepInput.parse(m.value);
          await new Promise((resolve) => setTimeout(resolve, ms));
          return { value: { slept: ms } };
        },
      },
      { name: "out", kind: "sink" },
    ],
    edges: [{ from: "nap", to: "out" }],
  });
}

/** One step that redacts `email` itself (step policy): a request's own redaction must still apply. */
export const echoRedacting = definePipeline({
  name: "test-echo-redacting",
  input: anyObject,
  steps: [
    { name: "masked", kind: "inline", run: (m) => ({ value: m.value }), capture: { redact: ["email"] } },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "masked", to: "out" }],
});

/** One run at a time, one waiting: for admission control. */
export const admission = napping("test-admission", { maxConcurrency: 1, maxQueueSize: 1 });

/** One run at a time, none waiting, whose one step returns at once: a run that ends in the burst that starts it. */
export const admissionInline = definePipeline({
  name: "test-admission-inline",
  input: anyObject,
  admission: { maxConcurrency: 1, maxQueueSize: 0 },
  steps: [
    { name: "echo", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "echo", to: "out" }],
});

/** One run at a time, none waiting, whose step sleeps: a run still going on when a retried start reads it. */
export const admissionAlone = napping("test-admission-alone", { maxConcurrency: 1, maxQueueSize: 0 });

/** Eight runs at a time, none waiting: for isolates leasing slots in blocks (two at a time here). */
export const admissionWide = napping("test-admission-wide", { maxConcurrency: 8, maxQueueSize: 0 });

const queuedInput = z.strictObject({
  value: z.number(),
  /** The first this-many invocations of the queued step throw (per run). */
  failTimes: z.number().int().min(0).optional(),
});

/** Invocations of a queued test step, by run id: the consumer runs in this isolate too. */
export const stageCalls = new Map<string, number>();

/**
 * A gate that a run's first queued-step invocation (or the first step of test-batch) waits at
 * until the test opens it. Both sides poll a flag: the step and the test run in different request
 * contexts, and workerd does not carry a promise's resolution from one request to another.
 */
export interface Gate {
  open(): void;
  /** Resolves once the step has reached the gate. */
  reached(): Promise<void>;
}
const gates = new Map<string, { isOpen: boolean; arrived: boolean }>();

const poll = async (done: () => boolean) => {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
};

/**
 * Makes the first invocation of run `key`'s queued step wait until the gate is opened; `key` may
 * also be the `hold` value of a test-batch run's input (its first step waits).
 */
export function holdStage(key: string): Gate {
  const state = { isOpen: false, arrived: false };
  gates.set(key, state);
  return {
    open: () => {
      state.isOpen = true;
    },
    reached: () => poll(() => state.arrived),
  };
}

/** Waits at the gate set for `key`, if there is one, until the test opens it. */
async function passGate(key: string | undefined): Promise<void> {
  const gate = key === undefined ? undefined : gates.get(key);
  if (!gate) return;
  gate.arrived = true;
  await poll(() => gate.isOpen);
}

const holdOf = (value: unknown): string | undefined => {
  const hold = (value as { hold?: unknown } | null)?.hold;
  return typeof hold === "string" ? hold : undefined;
};

const doubleStep: StepFunction = async (m, context) => {
  const calls = nthCall(stageCalls, context.runId);
  const { value, failTimes = 0 } = queuedInput.parse(m.value);
  if (calls === 1) await passGate(context.runId);
  if (calls <= failTimes) throw new Error(`failed on purpose (call ${calls})`);
  return { value: { doubled: value * 2 } };
};

/** A queued step (three attempts, no backoff) followed by an inline one. */
export const queued = definePipeline({
  name: "test-queued",
  input: queuedInput,
  steps: [
    { name: "double", kind: "queued", run: doubleStep, retry: { maxAttempts: 3, backoffSeconds: 0 } },
    { name: "label", kind: "inline", run: (m) => ({ value: { label: "done", ...(m.value as Record<string, number>) } }) },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "double", to: "label" },
    { from: "label", to: "out" },
  ],
});

/** The same with a minute of backoff, so a failed attempt stays away while a test delivers by hand. */
export const queuedSlowRetry = definePipeline({
  ...queued,
  name: "test-queued-slow-retry",
  steps: [
    { name: "double", kind: "queued", run: doubleStep, retry: { maxAttempts: 3, backoffSeconds: 60, backoffMultiplier: 2, maxBackoffSeconds: 600 } },
    queued.steps[1]!,
    queued.steps[2]!,
  ],
});

/** The same with a 5-second run deadline: a run whose stages cannot be sent ends at it. */
export const queuedShortDeadline = definePipeline({ ...queued, name: "test-queued-short-deadline", runTimeoutSeconds: 5 });

const spreadInput = z.strictObject({ n: z.number().int().min(1).max(50) });

/** Fans out to two queued steps per message and fans in to one inline step. */
export const queuedFanout = definePipeline({
  name: "test-queued-fanout",
  input: spreadInput,
  steps: [
    { name: "spread", kind: "inline", run: (m) => Array.from({ length: spreadInput.parse(m.value).n }, (_, i) => ({ value: i + 1 })) },
    { name: "square", kind: "queued", run: (m) => ({ value: (m.value as number) ** 2 }), retry: { backoffSeconds: 0 } },
    { name: "negate", kind: "queued", run: (m) => ({ value: -(m.value as number) }), retry: { backoffSeconds: 0 } },
    { name: "collect", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "spread", to: "square" },
    { from: "spread", to: "negate" },
    { from: "square", to: "collect" },
    { from: "negate", to: "collect" },
    { from: "collect", to: "out" },
  ],
});

/**
 * The `sentences` example with its results kept in the run's own storage: a text of thousands of
 * sentences makes one burst of thousands of events (the example moves its results to KV, which
 * Miniflare writes one file at a time).
 */
export const sentencesLocal = definePipeline({
  name: "test-sentences-local",
  input: z.strictObject({ text: z.string() }),
  steps: [
    { name: "split", kind: "inline", run: split },
    { name: "shout", kind: "inline", run: shout },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "split", to: "shout", conditions: { operator: "any", tags: ["question"] } },
    { from: "split", to: "out", conditions: { operator: "any", tags: ["statement"] } },
    { from: "shout", to: "out" },
  ],
});

/** Answers the request headers its step was handed (`context.headers`). */
export const headersEcho = definePipeline({
  name: "test-headers",
  input: anyObject,
  steps: [
    { name: "echo", kind: "inline", run: (_m, context) => ({ value: { ...context.headers } }) },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "echo", to: "out" }],
});

/** The same, run memory-only (in the Worker, nothing stored). */
export const headersEchoMemory = definePipeline({ ...headersEcho, name: "test-headers-memory", runtime: "memory-only" });

/** The same, memory-only (in the Worker, nothing stored). */
export const sentencesMemory = definePipeline({ ...sentencesLocal, name: "test-sentences-memory", runtime: "memory-only" });

const streamingInput = z.strictObject({ words: z.array(z.string()), delayMs: z.number().int().min(0), failAfter: z.number().int().optional() });

/** Steps of test-streaming runs whose signal was aborted (a cancel reached the step), by run id. */
export const streamingAborted = new Set<string>();

/**
 * Streams `words` one delta each, `delayMs` apart (the first a word, later ones a space and a
 * word), and answers the whole text; with `breakOff`, throws its error before delta `at`.
 */
async function speakWords(words: readonly string[], delayMs: number, context: StepContext, breakOff?: { at: number; error: string }) {
  let text = "";
  for (const [i, word] of words.entries()) {
    if (breakOff && i === breakOff.at) throw new Error(breakOff.error);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (context.signal.aborted) throw new Error("cancelled");
    const delta = i === 0 ? word : ` ${word}`;
    text += delta;
    context.emit(delta);
  }
  return { text, tokens: words.length };
}

/**
 * `speak` streams its words one delta each, `delayMs` apart (the first a word, later ones a space
 * and a word), then returns the whole text; with `failAfter`, it throws after that many deltas.
 */
export const streaming = definePipeline({
  name: "test-streaming",
  input: streamingInput,
  steps: [
    {
      name: "speak",
      kind: "inline",
      run: async (m, context) => {
        const { words, delayMs, failAfter } = streamingInput.parse(m.value);
        context.signal.addEventListener("abort", () => streamingAborted.add(context.runId));
        const breakOff = failAfter === undefined ? undefined : { at: failAfter, error: `the model stopped after ${failAfter} deltas` };
        return { value: await speakWords(words, delayMs, context, breakOff) };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "speak", to: "out" }],
});

const speakCalls = new Map<string, number>();

/** `speak` retried once (no backoff): its first attempt breaks off after 2 deltas, the second streams everything. */
export const streamingRetry = definePipeline({
  name: "test-streaming-retry",
  input: streamingInput,
  steps: [
    {
      name: "speak",
      kind: "inline",
      retry: retryOnceAtOnce,
      run: async (m, context) => {
        const { words, delayMs } = streamingInput.parse(m.value);
        const call = nthCall(speakCalls, context.runId);
        return { value: await speakWords(words, delayMs, context, call === 1 ? { at: 2, error: "the model broke off" } : undefined) };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "speak", to: "out" }],
});

const countInput = z.object({ count: z.number().int() });
const bumpCalls = new Map<string, number>();

/**
 * `bump` adds one to its input's `count` in place (as step code often changes what it is given),
 * fails its first attempt after that, and returns its input on the second.
 */
export const mutatingRetry = definePipeline({
  name: "test-mutating-retry",
  input: countInput,
  steps: [
    {
      name: "bump",
      kind: "inline",
      retry: retryOnceAtOnce,
      run: (m, context) => {
        const value = m.value as { count: number };
        value.count += 1;
        const call = nthCall(bumpCalls, context.runId);
        if (call === 1) throw new Error("failed after changing its input");
        return { value };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "bump", to: "out" }],
});

/** `sleep` on the journal host with two shards, whichever host the suite runs on (journal-shards.test.ts). */
export const journalSleep = definePipeline({
  name: "test-journal-sleep",
  input: exampleSleepInput,
  runHost: "journal",
  shards: 2,
  steps: [
    { name: "sleep", kind: "inline", run: sleep },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "sleep", to: "out" }],
});

export function registerTestPipelines(): void {
  for (const definition of [
    failing,
    fanout,
    echo,
    inflate,
    wideCpu,
    failFast,
    unindexed,
    shortRetention,
    kvResults,
    r2Results,
    batch,
    admission,
    admissionWide,
    admissionInline,
    admissionAlone,
    echoRedacting,
    queued,
    queuedSlowRetry,
    queuedFanout,
    queuedShortDeadline,
    sentencesLocal,
    sentencesMemory,
    streaming,
    streamingRetry,
    mutatingRetry,
    headersEcho,
    headersEchoMemory,
    journalSleep,
    ...remotePipelines,
  ]) {
    registerPipeline(definition);
  }
}
