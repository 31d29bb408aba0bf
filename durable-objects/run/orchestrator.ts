/**
 * The run's state machine: message passing over the step graph, in-flight accounting, failure,
 * cancellation and timeouts. Progress happens in bursts (a synchronous stretch between awaits);
 * each burst ends with `flush`, which persists everything the burst changed in one transaction.
 * How a work item is dispatched, watched and sent depends on its step's kind: that is the step's
 * dispatcher's business (./dispatch/).
 */
import { routeOutputs } from "../../src/pipeline/graph";
import { loadMessage, storeMessage, type JsonValue, type Message } from "../../src/pipeline/message";
import { fanoutProblem } from "../../src/pipeline/step-output";
import { CANCELLED_MESSAGE, type RunErrorInfo, type RunStatus } from "../../src/runs/protocol";
import type { StageClaimOutcome, StageCompletion, StageFailureReport, StageReportOutcome, StageRetry } from "../../src/runs/stage-protocol";
import type { RemoteReport } from "../../src/remote/protocol";
import { timeoutMessage } from "../../src/runs/run-timeout";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import { DeltaFlush } from "./delta-flush";
import { Dispatchers, failedSendsNote, StepLedger, type Held, type StepDispatcher } from "./dispatch";
import type { RunRecord, WorkItem } from "./run-record";
import type { OrchestratorOptions } from "./orchestrator-options";

/** How much of a step's error message the run keeps. */
const ERROR_MESSAGE_MAX_CHARS = 4096;
/**
 * Work items one burst dispatches at most; the rest go on in the next turn. Inline steps run inside
 * the burst, and a Durable Object runs nothing else meanwhile (no timer, no other call), so an
 * unbounded burst over a wide fan-out held a sync caller past its timeout and an async caller's
 * acknowledgement until the whole run was done. A cut has a cost: the items still waiting are
 * written (one entry each) and deleted as they run, about two rows an item, so the bound is high
 * enough that a run of up to a thousand steps' invocations still ends in one write.
 */
export const MAX_BURST_DISPATCHES = 1000;

export { MAX_INLINE_ATTEMPTS, MAX_STAGE_SENDS, QUEUED_STEP_MAX_SECONDS } from "./dispatch";

export class Orchestrator {
  /** One per step kind: dispatch, watchdog checks, and what is sent once a burst is persisted. */
  private readonly dispatchers: Dispatchers;
  /** Each step's state in the run row and its events. */
  private readonly steps: StepLedger;
  private driving = false;
  private terminalReported = false;
  /** Ends the run at its deadline to the millisecond; the alarm is the durable backstop. */
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  /** Wakes the run when its earliest held-back item (a delayed message, a call held back) may go. */
  private wakeTimer: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;
  /** Goes on with a burst cut at `MAX_BURST_DISPATCHES` (its items wait in storage if the object is evicted first). */
  private continueTimer: ReturnType<typeof setTimeout> | undefined;

  /** Writes streamed deltas coalesced; every flush of the run writes them too. */
  private readonly deltaFlush = new DeltaFlush(() => this.flush());

  constructor(private readonly o: OrchestratorOptions) {
    this.steps = new StepLedger(o);
    this.dispatchers = new Dispatchers({
      options: o,
      steps: this.steps,
      stepCompleted: (item, outputs, ms, extra) => this.stepCompleted(item, outputs, ms, extra),
      stepFailed: (item, message, ms) => this.stepFailed(item, message, ms),
      stepDelta: (item, delta) => this.stepDelta(item, delta),
      enqueue: (step, from, message, held) => this.enqueue(step, from, message, held),
      awaitedItem: (key, kind) => this.awaitedItem(key, kind),
      drive: () => this.drive(),
      flush: () => this.flush(),
    });
  }

  get record(): RunRecord {
    return this.o.record;
  }

  /** Whether a step function of this run has yet to return here (a cancelled run's too: it drives the run once it does). */
  get unsettled(): boolean {
    return this.dispatchers.inline.unsettled;
  }

  /** Records a new run and its first work items, then starts driving it. */
  begin(input: Message): void {
    const { record, pipeline, events, now } = this.o;
    record.row.status = "running";
    events.append({ type: "run_started", data: { pipeline: pipeline.name } }, now());
    for (const step of pipeline.entrySteps) this.enqueue(step, null, input);
    this.drive();
  }

  /** Dispatches every ready work item; synchronous steps finish inside this burst. Ends with a flush. */
  drive(): void {
    // A queued run waits for admission: nothing runs, and an empty work list does not mean done.
    if (this.record.row.status === "pending") return this.flush();
    if (this.driving) return;
    this.driving = true;
    let budget = MAX_BURST_DISPATCHES;
    let ready: WorkItem[] = [];
    try {
      ready = this.readyItems();
      while (ready.length > 0 && !this.record.terminal && budget > 0) {
        for (const item of ready.slice(0, budget)) {
          this.dispatcherOf(item).dispatch(item);
          budget -= 1;
          // A step that failed the run ends it: its siblings are not started.
          if (this.record.terminal) break;
        }
        ready = this.readyItems();
      }
      if (!this.record.terminal && this.record.work.size === 0 && this.dispatchers.executing === 0) {
        this.finish("completed", null);
      }
    } finally {
      this.driving = false;
    }
    this.flush();
    // The burst's bound was reached with items still ready: the rest go on in the next turn.
    if (budget === 0 && ready.length > 0) this.continueSoon();
  }

  /**
   * The rest of a long burst goes on in the next turn of the event loop, after this part is
   * written: meanwhile a waiting caller's timeout can fire (Numaflow's 408 while the run goes on),
   * an async start is acknowledged and streams send what happened so far.
   */
  private continueSoon(): void {
    if (this.continueTimer !== undefined || this.record.terminal) return;
    this.continueTimer = setTimeout(() => {
      this.continueTimer = undefined;
      if (!this.record.terminal) this.drive();
    }, 0);
  }

  /** Called by the alarm: enforces the deadline, re-drives work lost to an eviction or unheard of, re-arms. */
  watchdog(): void {
    const { record, now } = this.o;
    if (record.terminal) return this.flush();
    if (now() >= record.row.deadlineAt) {
      const seconds = Math.round((record.row.deadlineAt - record.row.createdAt) / 1000);
      const note = failedSendsNote(record.work.values());
      this.finish("failed", { code: "run_timeout", message: `${timeoutMessage(seconds)}${note}` });
      return this.flush();
    }
    if (record.row.status === "pending") return this.flush();
    for (const item of record.work.values()) {
      const failure = this.dispatcherOf(item).watchdog(item);
      if (failure !== undefined) {
        this.fail(item.step, failure);
        return this.flush();
      }
    }
    this.drive();
  }

  /** Ends the run as cancelled; steps still executing are told through their signal, their output ignored. */
  cancel(reason: string | undefined): boolean {
    if (this.record.terminal) return false;
    this.finish("cancelled", { code: "run_cancelled", message: reason ?? CANCELLED_MESSAGE, ...(reason !== undefined ? { reason } : {}) });
    this.flush();
    return true;
  }

  /** A consumer asks to run a queued step: yes while the run and the work item are waiting for it. */
  claimStage(key: string): StageClaimOutcome {
    const item = this.awaitedItem(key, "queued");
    if (typeof item === "string") return { proceed: false, reason: item };
    this.dispatchers.queued.claim(item);
    this.flush();
    return { proceed: true, attempt: item.attempt, headers: this.record.row.headers };
  }

  /** A consumer ran a queued step: its outputs move the run on, once (later reports find it settled). */
  completeStage(report: StageCompletion): StageReportOutcome {
    const item = this.awaitedItem(report.key, "queued");
    if (typeof item === "string") return { accepted: false, reason: item };
    this.stepCompleted(item, report.outputs.map(loadMessage), report.ms);
    this.drive();
    return { accepted: true };
  }

  /** A queued step's attempt failed and will be tried again after `delaySeconds`. */
  retryStage(report: StageRetry): StageReportOutcome {
    const item = this.awaitedItem(report.key, "queued");
    if (typeof item === "string") return { accepted: false, reason: item };
    // A report from an attempt that a newer claim has replaced must not shorten the newer lease.
    if (report.attempt !== item.attempt) return { accepted: false, reason: "stale" };
    this.dispatchers.queued.retry(item, report);
    this.flush();
    return { accepted: true };
  }

  /** A queued step used up its retries (the dead-letter consumer says so): the run fails. */
  failStage(report: StageFailureReport): StageReportOutcome {
    const item = this.awaitedItem(report.key, "queued");
    if (typeof item === "string") return { accepted: false, reason: item };
    const attempts = report.attempts === 1 ? "1 attempt" : `${report.attempts} attempts`;
    this.stepFailed(item, `${report.error} (after ${attempts})`, null);
    this.flush();
    return { accepted: true };
  }

  /** A function address reports a batch: its outputs, messages to other functions, or its failure. */
  completeRemote(report: RemoteReport): StageReportOutcome {
    return this.dispatchers.remote.complete(report);
  }

  /** The alarm of an ended run: function addresses not yet told that it ended are told again. */
  retryEndNotices(): void {
    if (this.record.terminal) this.dispatchers.remote.tellEnded();
  }

  /** The sent-out work item a report is about (of a queued or remote step), or why there is none to act on. */
  private awaitedItem(key: string, kind: "queued" | "remote"): WorkItem | "run_ended" | "settled" {
    if (this.record.terminal) return "run_ended";
    if (this.record.row.status === "pending") return "settled";
    const item = this.record.work.get(key);
    if (!item || item.state === "pending" || this.o.pipeline.step(item.step).kind !== kind) return "settled";
    return item;
  }

  private dispatcherOf(item: WorkItem): StepDispatcher {
    return this.dispatchers.dispatcherFor(this.o.pipeline.step(item.step).kind);
  }

  /** Pending items that may run now (a held-back item waits for its time). */
  private readyItems(): WorkItem[] {
    const now = this.o.now();
    return [...this.record.work.values()].filter((w) => w.state === "pending" && (w.leaseUntil === null || w.leaseUntil <= now));
  }

  private enqueue(step: string, from: string | null, message: Message, held: Held = {}, parent?: string): void {
    const row = this.record.row;
    const key = `${row.id}/${step}/${row.nextMessage++}`;
    this.record.work.set(key, {
      key,
      step,
      from,
      ...(parent !== undefined ? { parent } : {}),
      message: storeMessage(message),
      attempt: 0,
      state: "pending",
      leaseUntil: held.notBefore ?? null,
      sends: 0,
      token: held.token ?? null,
    });
    this.steps.state(step);
  }

  /** A streaming step's delta: published now (the event log's listener), written within 100 ms or 4 KB. */
  private stepDelta(item: WorkItem, delta: string): void {
    const { record } = this.o;
    // Late deltas (after a cancel, the deadline, the step's own end) go nowhere.
    if (record.terminal || record.work.get(item.key) !== item || item.state !== "running") return;
    this.steps.recordDelta(item, delta);
    this.deltaFlush.added(delta.length);
  }

  /** Records a step's failure and fails the run. `ms` is null when the failure was not timed here. */
  private stepFailed(item: WorkItem, error: string, ms: number | null): void {
    // A step's error text is of its own choosing: kept to a size the run's entry can carry.
    const message = error.length > ERROR_MESSAGE_MAX_CHARS ? `${error.slice(0, ERROR_MESSAGE_MAX_CHARS)}… (${error.length} characters)` : error;
    this.steps.markFailed(item, message, ms);
    this.fail(item.step, `step '${item.step}' failed: ${message}`);
  }

  /** Records a step's outputs and routes them on along its edges (a message that reaches a sink is a result). */
  private stepCompleted(item: WorkItem, outputs: Message[], ms: number, extra: Record<string, JsonValue> = {}): void {
    const { record, pipeline, maxFanout } = this.o;
    if (record.terminal) return;
    const tooMany = fanoutProblem(outputs.length, maxFanout);
    if (tooMany) return this.stepFailed(item, tooMany, ms);
    record.work.delete(item.key);
    this.steps.markCompleted(item, outputs, ms, extra);
    // Each delivery in order, results and new work items alike numbered from the run's message
    // counter: the order the message path walks a step's outputs in.
    for (const delivery of routeOutputs(pipeline, item.step, outputs)) {
      if (pipeline.step(delivery.to).kind === "sink") {
        this.steps.recordResult(delivery.from, delivery.to, delivery.message, { parent: item.key, seq: record.row.nextMessage++ });
      } else {
        this.enqueue(delivery.to, delivery.from, delivery.message, {}, item.key);
      }
    }
  }

  private fail(step: string, message: string): void {
    this.finish("failed", { code: "run_failed", message, step });
  }

  private finish(status: Exclude<RunStatus, "running">, error: RunErrorInfo | null): void {
    const { record, events, now, retentionMs } = this.o;
    const row = record.row;
    row.status = status;
    row.error = error;
    row.finishedAt = now();
    row.expiresAt = row.finishedAt + retentionMs;
    this.dispatchers.abandon();
    // A step the run leaves with work unfinished (cancelled, timed out, or another step failed)
    // will not go on: `stopped`, so that no ended run shows a step as running or queued.
    for (const item of record.work.values()) {
      const state = row.steps[item.step];
      if (state && state.status !== "failed") state.status = "stopped";
    }
    record.work.clear();
    const type = status === "completed" ? "run_completed" : status === "failed" ? "run_failed" : "run_cancelled";
    const stepsExecuted = countStepsExecuted(this.o.pipeline, row.steps);
    const data: Record<string, JsonValue> = error ? { code: error.code, message: error.message } : { results: row.resultCount, steps_executed: stepsExecuted };
    if (error?.step) data.step = error.step;
    if (error?.reason !== undefined) data.reason = error.reason;
    events.append({ type, data }, row.finishedAt);
  }

  /** When the watchdog must look next: at the deadline, or sooner when a work item's dispatcher says so. */
  private nextCheckAt(watchdogAt: number): number {
    let at = this.record.row.deadlineAt;
    for (const item of this.record.work.values()) at = Math.min(at, this.dispatcherOf(item).nextCheckAt(item, watchdogAt));
    return at;
  }

  /** Persists the burst (run entry, work diff, events) atomically and keeps the alarm armed. */
  private flush(): void {
    const { store, record, events, now, watchdogMs, alarm } = this.o;
    const row = record.row;
    // The alarm goes first so that the run entry's count of rows written includes it; both land
    // in the same commit (nothing awaits in between).
    const alarmAt = record.terminal ? (row.expiresAt ?? now()) : this.nextCheckAt(now() + watchdogMs);
    // The watchdog alarm of a running run must be durable before anyone hears of the run. The
    // retention alarm of a finished run need not hold the answer back (it cost a sync call a few
    // ms locally): if the object dies before the write lands, the next access re-arms it.
    if (record.terminal && !this.terminalReported) {
      alarm.set(alarmAt, { allowUnconfirmed: true });
      this.o.onEnding();
    } else alarm.noLaterThan(alarmAt);
    store.transaction(() => {
      events.flush();
      record.save(store);
    });
    this.deltaFlush.written();
    if (!record.terminal && this.deadlineTimer === undefined) {
      this.deadlineTimer = setTimeout(() => this.watchdog(), Math.max(0, row.deadlineAt - now()));
    }
    if (record.terminal && !this.terminalReported) {
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      if (this.continueTimer !== undefined) clearTimeout(this.continueTimer);
      this.continueTimer = undefined;
      // A held-back item's wake-up has nothing left to wake (it would only write the entry again).
      if (this.wakeTimer !== undefined) clearTimeout(this.wakeTimer.timer);
      this.wakeTimer = undefined;
      this.terminalReported = true;
      this.o.onTerminal();
    }
    this.armWakeTimer();
    // Last, after every write of the burst: the output gate holds the messages until they are durable.
    this.dispatchers.persisted();
  }

  /** A timer for the earliest held-back pending item; the alarm (nextCheckAt) is its durable backstop. */
  private armWakeTimer(): void {
    if (this.record.terminal) return;
    let at: number | undefined;
    for (const item of this.record.work.values()) {
      if (item.state === "pending" && item.leaseUntil !== null && (at === undefined || item.leaseUntil < at)) at = item.leaseUntil;
    }
    if (at === undefined || (this.wakeTimer && this.wakeTimer.at <= at)) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer.timer);
    const timer = setTimeout(
      () => {
        this.wakeTimer = undefined;
        this.drive();
      },
      Math.max(0, at - this.o.now()),
    );
    this.wakeTimer = { at, timer };
  }
}
