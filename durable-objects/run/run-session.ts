/**
 * One run as a Run object instance holds it: its record, pipeline, orchestrator, event log,
 * results and capture policy wired together once (`RunSession.create` for a new run,
 * `RunSession.load` for a stored one), and the callers waiting for it to end.
 */
import { findPipeline } from "../../src/catalog";
import { enqueueInvocation, tellRunEnded } from "../../src/remote/function-client";
import { sendStages } from "../../src/queues/stage-transport";
import { KvResultStore, R2ResultStore } from "../../src/results/result-store";
import type { Pipeline } from "../../src/pipeline/graph";
import type { RunIndexRowMessage } from "../../src/runs/index-row";
import type { RunEvent } from "../../src/runs/protocol";
import type { Settings } from "../../src/settings";
import type { AlarmPlan } from "./alarm-plan";
import { EventLog } from "./event-log";
import { Orchestrator } from "./orchestrator";
import { LocalResultStore } from "./result-store";
import { RunCapturePolicy } from "./run-capture";
import type { RunIndexer } from "./run-indexer";
import type { Retention } from "./retention";
import type { RunRecord } from "./run-record";
import { RunResults } from "./run-results";
import type { RunStore } from "./run-store";

/** KV's own expiry is a backstop behind the retention alarm: a day longer. */
const KV_EXPIRY_MARGIN_SECONDS = 86_400;

/** Faults a test injects through `runInDurableObject`; never set otherwise. */
export interface InjectedFaults {
  /** Until then, every stage send is refused as a queue that is down would refuse it. */
  refuseStageSendsUntil: number;
  /** Until then, every run-events send (index row, slot release) is refused as a queue that is down would refuse it. */
  refuseIndexSendsUntil: number;
  /** The next start resets the object once the run is stored, so its answer is lost. */
  resetAfterNextStart: boolean;
  /**
   * The next sync start's answer is lost on its way back, as a broken connection loses it: the
   * caller sees a retryable error while the object still waits for the run as its starter.
   */
  cutNextStartAnswer?: boolean;
  /** While set, every run-events send waits for it, as a slow queue would keep it waiting. */
  holdIndexSends?: Promise<void>;
  /** While set, the run's alarm handler waits for it first, as one stuck on a slow dependency would. */
  holdAlarm?: Promise<void>;
}

/** What a session needs from its Run object. */
export interface SessionDeps {
  /** Keeps the object alive for background work (sends, moving results), which its host counts. */
  waitUntil: (promise: Promise<unknown>) => void;
  env: Env;
  settings: Settings;
  store: RunStore;
  alarm: AlarmPlan;
  indexer: RunIndexer;
  retention: Retention;
  faults: InjectedFaults;
  /** Every event, as it is appended (live subscribers and sockets). */
  publish: (event: RunEvent, session: RunSession) => void;
}

export class RunSession {
  readonly orchestrator: Orchestrator;
  readonly events: EventLog;
  readonly results: RunResults;
  readonly capture: RunCapturePolicy;
  private readonly waiters = new Set<() => void>();
  /** Set while a sync caller waits for the run to end (see `create`). */
  private starterWaiting = false;
  /** Whether that caller brought the run's slot (not a queued caller, whose slot its shard gave). */
  private starterHoldsSlot = false;
  private slotHandedBack = false;
  /** The run's final index row, for the waiting starter to take with its answer (`ending`). */
  private rowForStarter: RunIndexRowMessage | undefined;

  private constructor(
    readonly pipeline: Pipeline,
    readonly record: RunRecord,
    private readonly deps: SessionDeps,
  ) {
    const { waitUntil, env, settings, store } = deps;
    const retentionSeconds = pipeline.definition.retentionSeconds ?? settings.EDGESERVE_RETENTION_SECONDS;
    this.results = new RunResults(
      new LocalResultStore(store, record),
      pipeline.definition.resultStore,
      { kv: new KvResultStore(env.RESULTS_KV, retentionSeconds + KV_EXPIRY_MARGIN_SECONDS), r2: new R2ResultStore(env.RESULTS_BUCKET) },
      { pipeline: record.row.pipeline, runId: record.row.id },
    );
    this.events = new EventLog(store, record, (event) => deps.publish(event, this));
    this.capture = new RunCapturePolicy(record.row.capture, pipeline);
    this.orchestrator = new Orchestrator({
      capture: this.capture,
      store,
      alarm: deps.alarm,
      record,
      pipeline,
      events: this.events,
      results: this.results,
      retentionMs: retentionSeconds * 1000,
      watchdogMs: settings.EDGESERVE_WATCHDOG_SECONDS * 1000,
      stageLeaseMs: settings.EDGESERVE_STAGE_LEASE_SECONDS * 1000,
      maxFanout: settings.EDGESERVE_MAX_FANOUT,
      sendStages: (plans) => {
        const refused = Date.now() < deps.faults.refuseStageSendsUntil;
        const sending = refused ? Promise.reject(new Error("Queue send failed: injected fault")) : sendStages(env.STAGE_QUEUE, env.PAYLOADS, plans);
        waitUntil(sending.catch(() => undefined));
        return sending;
      },
      sendInvocations: (invocations) => {
        const handing = Promise.all(
          invocations.map((invocation) =>
            enqueueInvocation(env.FUNCTIONS, invocation).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
          ),
        );
        waitUntil(handing);
        return handing;
      },
      tellRunEnded: (addresses, notice) => {
        const telling = Promise.all(
          addresses.map((address) =>
            tellRunEnded(env.FUNCTIONS, address, notice).then(
              () => undefined,
              (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
            ),
          ),
        );
        waitUntil(telling);
        return telling;
      },
      env: env as unknown as Record<string, unknown>,
      now: Date.now,
      onEnding: () => this.ending(),
      onTerminal: () => this.ended(),
    });
  }

  /**
   * A new run's session (nothing is written until its first burst is flushed). `starterWaits`: a
   * sync caller waits (`waitAsStarter`); if the run ends meanwhile, its answer carries the results
   * (which a policy that keeps no payloads then does not store), and, when the caller brought the
   * slot (`starterHoldsSlot`), the slot too, for the caller's isolate to reuse, instead of to the shard.
   */
  static create(record: RunRecord, deps: SessionDeps, options: { starterWaits: boolean; starterHoldsSlot: boolean }): RunSession {
    const session = new RunSession(pipelineOf(record), record, deps);
    session.starterWaiting = options.starterWaits;
    session.starterHoldsSlot = options.starterWaits && options.starterHoldsSlot;
    return session;
  }

  static load(record: RunRecord, deps: SessionDeps): RunSession {
    return new RunSession(pipelineOf(record), record, deps);
  }

  /** Waits up to `timeoutMs` for the run to end. */
  async waitForEnd(timeoutMs: number): Promise<void> {
    if (this.record.terminal || timeoutMs <= 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** The starter's answer will not be read (its call was cut): the slot no longer goes back with it. */
  releaseStarter(): void {
    this.starterWaiting = false;
  }

  /**
   * The starter waits up to `timeoutMs`. When the run ended meanwhile, `slotReturned` says that its
   * slot went back to it, and `indexRow` is the run's final index row for it to send.
   */
  async waitAsStarter(timeoutMs: number): Promise<{ slotReturned: boolean; indexRow?: RunIndexRowMessage }> {
    try {
      await this.waitForEnd(timeoutMs);
    } finally {
      this.starterWaiting = false;
    }
    const indexRow = this.rowForStarter;
    this.rowForStarter = undefined;
    return indexRow ? { slotReturned: this.slotHandedBack, indexRow } : { slotReturned: this.slotHandedBack };
  }

  /**
   * In the burst that ends the run, when a sync caller waits for the answer: its slot and the run's
   * final index row go back with that answer (both marked in this burst's write), and when the
   * capture policy keeps no payloads, the input and results are not kept past it (they never reach
   * storage in a one-burst run, so this costs no write).
   */
  private ending(): void {
    if (!this.starterWaiting) return;
    if (this.starterHoldsSlot && this.record.row.admission !== null) this.record.row.slotToStarter = true;
    if (this.deps.indexer.handsRowToStarter(this.record, this.capture)) this.record.row.indexToStarter = true;
    if (this.capture.keepsPayloads(this.record.row.status)) return;
    this.results.holdForAnswer();
    this.record.dropInput(this.deps.store);
    this.record.row.payloadsDropped = true;
  }

  /** The burst that ended the run is persisted: free the slot, index (or hand the row to the starter), wake waiters, move results. */
  private ended(): void {
    const { waitUntil, indexer } = this.deps;
    if (this.starterWaiting && this.starterHoldsSlot && this.record.row.admission !== null) {
      this.record.row.admission = null;
      this.slotHandedBack = true;
    }
    if (this.starterWaiting && this.record.row.indexToStarter) this.rowForStarter = indexer.finalRow(this.record, this.capture, this.results);
    else indexer.ended(this.record, this.capture, this.results);
    for (const wake of [...this.waiters]) wake();
    if (this.results.needsMove()) waitUntil(this.deps.retention.moveResults(this.results));
  }
}

function pipelineOf(record: RunRecord): Pipeline {
  const pipeline = findPipeline(record.row.pipeline);
  if (!pipeline) throw new Error(`run '${record.row.id}' belongs to pipeline '${record.row.pipeline}', which is not deployed`);
  return pipeline;
}
