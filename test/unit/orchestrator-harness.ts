/**
 * An Orchestrator wired the way RunSession wires it (durable-objects/run/run-session.ts), over the
 * real storage of a fresh Run object, with its own seams replaced by recorders: the clock, the
 * stage and invocation senders, the alarm and `onTerminal`. The Run object itself is not used:
 * its storage is borrowed (its alarm is never set, so it never wakes to drive the run itself).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { findPipeline } from "../../src/catalog";
import type { JsonValue } from "../../src/pipeline/message";
import { loadMessage, storeMessage } from "../../src/pipeline/message";
import type { Pipeline } from "../../src/pipeline/graph";
import type { StagePlan } from "../../src/queues/stage-transport";
import type { EnqueueOutcome, RemoteInvocation, RunEnded } from "../../src/remote/protocol";
import { KvResultStore, R2ResultStore } from "../../src/results/result-store";
import type { RunEvent } from "../../src/runs/protocol";
import { AlarmPlan } from "../../durable-objects/run/alarm-plan";
import { EventLog } from "../../durable-objects/run/event-log";
import { Orchestrator } from "../../durable-objects/run/orchestrator";
import { LocalResultStore } from "../../durable-objects/run/result-store";
import { RunCapturePolicy } from "../../durable-objects/run/run-capture";
import { RunRecord, type WorkItem } from "../../durable-objects/run/run-record";
import { RunResults } from "../../durable-objects/run/run-results";
import { RunStore } from "../../durable-objects/run/run-store";
import { uniqueId } from "../helpers/unique";

export const RUN_TIMEOUT_MS = 600_000;
export const STAGE_LEASE_MS = 30_000;
export const WATCHDOG_MS = 1_000;
export const RETENTION_MS = 3_600_000;

export interface HarnessOptions {
  pipeline: string;
  /** The Worker's environment as the orchestrator sees it (remote endpoints' base URLs). */
  env?: Record<string, unknown>;
  /** What `sendInvocations` answers for each invocation (accepted by default). */
  handOver?: (invocation: RemoteInvocation) => EnqueueOutcome | Error;
}

export interface Harness {
  orchestrator: Orchestrator;
  record: RunRecord;
  pipeline: Pipeline;
  results: RunResults;
  runId: string;
  /** The test's clock: the orchestrator's `now()`; move it with `clock.t += ms`. */
  clock: { t: number };
  /** Every event, as it was appended. */
  published: RunEvent[];
  /** What `sendStages` was given, call by call, with each work item as storage held it at that moment. */
  stageSends: { plans: StagePlan[]; stored: (WorkItem | undefined)[] }[];
  /** What `sendInvocations` was given, call by call, likewise. */
  invocationSends: { invocations: RemoteInvocation[]; stored: (WorkItem | undefined)[] }[];
  /** What `tellRunEnded` was given, call by call. */
  endNotices: { addresses: string[]; notice: RunEnded }[];
  /** Each `onTerminal` call, with the run's status as storage held it then. */
  terminalCalls: string[];
  /** Alarm times set, in order. */
  alarms: number[];
  /** Transactions the orchestrator committed (one per burst). */
  bursts: number;
  /** The run as its storage holds it now (a new instance would load this). */
  stored(): RunRecord;
  /** The events its storage holds now, in order. */
  storedEvents(): RunEvent[];
  /** The run's results, decoded from JSON. */
  resultValues(): JsonValue[];
}

/** A message as work items and stage reports carry it. */
export const message = (value: JsonValue, keys: string[] = []) => storeMessage({ value, tags: [], keys });

/**
 * Runs `body` with a fresh run of `options.pipeline` (not yet begun) in a fresh Run object's
 * storage; a run still going when `body` returns is cancelled, so no timer outlives the test.
 */
export async function withRun(options: HarnessOptions, body: (h: Harness) => Promise<void> | void): Promise<void> {
  const pipeline = findPipeline(options.pipeline);
  if (!pipeline) throw new Error(`no pipeline '${options.pipeline}' in the catalog`);
  const stub = env.RUNS.get(env.RUNS.idFromName(uniqueId("orchestrator-unit")));
  await runInDurableObject(stub, async (_instance, state) => {
    // Bursts are counted and the alarm is recorded, not set: a real one would wake this Run object
    // to drive the stored run itself.
    const store = new (class extends RunStore {
      override transaction<T>(body: () => T): T {
        h.bursts += 1;
        return super.transaction(body);
      }
      override setAlarm(at: number): void {
        this.rowsWritten += 1;
        h.alarms.push(at);
      }
      override getAlarm(): Promise<number | null> {
        return Promise.resolve(h.alarms.at(-1) ?? null);
      }
    })(state.storage);
    const runId = uniqueId(`${options.pipeline}-run`);
    const clock = { t: Date.now() };
    const record = RunRecord.create({
      id: runId,
      pipeline: pipeline.name,
      surface: "native",
      runName: null,
      headers: { "x-test": "orchestrator" },
      input: message(null),
      createdAt: clock.t,
      deadlineAt: clock.t + RUN_TIMEOUT_MS,
      capture: { fallback: { mode: "full", sampleRate: 1, maxBytes: 262_144, redact: [] }, runtime: "REALTIME", sampleFraction: 0 },
      admission: null,
    });
    const results = new RunResults(
      new LocalResultStore(store, record),
      pipeline.definition.resultStore,
      { kv: new KvResultStore(env.RESULTS_KV, 3600), r2: new R2ResultStore(env.RESULTS_BUCKET) },
      { pipeline: pipeline.name, runId },
    );
    const published: RunEvent[] = [];
    const events = new EventLog(store, record, (event) => published.push(event));
    const stored = () => {
      const loaded = RunRecord.load(store);
      if (!loaded) throw new Error("the run is not stored");
      return loaded;
    };
    const storedItems = (keys: string[]) => {
      const loaded = RunRecord.load(store);
      return keys.map((key) => loaded?.work.get(key));
    };
    const h: Harness = {
      orchestrator: undefined as unknown as Orchestrator,
      record,
      pipeline,
      results,
      runId,
      clock,
      published,
      stageSends: [],
      invocationSends: [],
      endNotices: [],
      terminalCalls: [],
      alarms: [],
      bursts: 0,
      stored,
      storedEvents: () => new EventLog(store, stored(), () => undefined).replay(),
      resultValues: () => results.listNow().map((item) => JSON.parse(new TextDecoder().decode(item.bytes)) as JsonValue),
    };
    h.orchestrator = new Orchestrator({
      capture: new RunCapturePolicy(record.row.capture, pipeline),
      store,
      alarm: new AlarmPlan(store),
      record,
      pipeline,
      events,
      results,
      retentionMs: RETENTION_MS,
      watchdogMs: WATCHDOG_MS,
      stageLeaseMs: STAGE_LEASE_MS,
      maxFanout: 10_000,
      onEnding: () => undefined,
      sendStages: (plans) => {
        h.stageSends.push({ plans, stored: storedItems(plans.map((p) => p.message.key)) });
        return Promise.resolve();
      },
      sendInvocations: (invocations) => {
        h.invocationSends.push({ invocations, stored: storedItems(invocations.map((i) => i.key)) });
        return Promise.resolve(invocations.map((i) => options.handOver?.(i) ?? { accepted: true }));
      },
      tellRunEnded: (addresses, notice) => {
        h.endNotices.push({ addresses, notice });
        return Promise.resolve(addresses.map(() => undefined));
      },
      env: options.env ?? {},
      now: () => clock.t,
      onTerminal: () => {
        h.terminalCalls.push(RunRecord.load(store)?.row.status ?? "not stored");
      },
    });
    try {
      await body(h);
    } finally {
      h.orchestrator.cancel("test over");
    }
  });
}

/** Lets promise callbacks and zero-delay timers run (an async step's outcome, a send's answer). */
export const settle = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** The value a work item carries. */
export const itemValue = (item: WorkItem) => loadMessage(item.message).value;
