/**
 * The run's state machine: message passing over the step graph, in-flight accounting, failure,
 * cancellation and timeouts. Progress happens in bursts (a synchronous stretch between awaits);
 * each burst ends with `flush`, which persists everything the burst changed in one transaction.
 */
import type { QueuedStepDefinition, RemoteStepDefinition, StepContext } from "../../src/pipeline/definition";
import { routeOutputs, type Pipeline } from "../../src/pipeline/graph";
import { capturedValue, type CapturePolicy } from "../../src/capture/policy";
import {
  bytesToBase64,
  loadMessage,
  storeMessage,
  valueContentType,
  valueToBytes,
  type JsonValue,
  type Message,
  type MessageValue,
} from "../../src/pipeline/message";
import { normaliseStepOutput } from "../../src/pipeline/step-output";
import type { RunErrorInfo, RunStatus, StepState } from "../../src/runs/protocol";
import type {
  StageClaimOutcome,
  StageCompletion,
  StageFailureReport,
  StageReportOutcome,
  StageRetry,
} from "../../src/runs/stage-protocol";
import { planStage, type StagePlan } from "../../src/queues/stage-transport";
import { matchEndpoint, resolveFunctionUrl } from "../../src/remote/endpoint";
import { encodeArgument } from "../../src/remote/typed-value";
import { toBinary } from "@bufbuild/protobuf";
import { TypedValueSchema } from "../../src/remote/proto/io/statefun/request_reply_pb";
import type { EnqueueOutcome, RemoteInvocation, RemoteReport } from "../../src/remote/protocol";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import type { AlarmPlan } from "./alarm-plan";
import type { EventLog } from "./event-log";
import type { RunCapturePolicy } from "./run-capture";
import type { RunResults } from "./run-results";
import type { RunRecord, WorkItem } from "./run-record";
import type { Sql } from "./sql";

/** An inline step interrupted this many times (evictions mid-step) fails the run instead of looping. */
export const MAX_INLINE_ATTEMPTS = 3;

/** A queued step sent this many times without a consumer finishing it fails the run. */
export const MAX_STAGE_SENDS = 5;

/** How long before a call that could not be handed to its address is tried again. */
const CALL_RETRY_MS = 1000;

/** A claimed queued step with no timeout of its own may run this long: a consumer's wall-clock limit (platform §3). */
export const QUEUED_STEP_MAX_SECONDS = 900;

export interface OrchestratorOptions {
  capture: RunCapturePolicy;
  sql: Sql;
  storage: DurableObjectStorage;
  alarm: AlarmPlan;
  record: RunRecord;
  pipeline: Pipeline;
  events: EventLog;
  results: RunResults;
  retentionMs: number;
  watchdogMs: number;
  /** How long a queued step may go unheard of (beyond its timeout or retry delay) before it is sent again. */
  stageLeaseMs: number;
  /** Sends planned stages (after the burst that recorded them is persisted). */
  sendStages: (plans: StagePlan[]) => Promise<void>;
  /** Hands invocations to their function addresses; one outcome (or error) per invocation. */
  sendInvocations: (invocations: RemoteInvocation[]) => Promise<(EnqueueOutcome | Error)[]>;
  /** The Worker's environment (a remote endpoint's base URL may come from it). */
  env: Readonly<Record<string, unknown>>;
  now: () => number;
  /** Called once, after the burst that ended the run has been persisted. */
  onTerminal: () => void;
}

export class Orchestrator {
  /** Steps executing in this instance, by work key; lost on eviction, which is how the watchdog knows. */
  private readonly executing = new Map<string, AbortController>();
  private driving = false;
  private terminalReported = false;
  /** Ends the run at its deadline to the millisecond; the alarm is the durable backstop. */
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;
  /** Stages recorded as sent in this burst, sent once the burst is persisted. */
  private outbox: { key: string; sends: number; plan: StagePlan }[] = [];
  /** Remote invocations recorded as sent in this burst, handed over once the burst is persisted. */
  private invocations: { key: string; sends: number; invocation: RemoteInvocation }[] = [];
  /** Wakes the run when its earliest held-back item (a delayed message, a call held back) may go. */
  private wakeTimer: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;

  constructor(private readonly o: OrchestratorOptions) {}

  get record(): RunRecord {
    return this.o.record;
  }

  /** Records a new run and its first work items, then starts driving it. */
  begin(input: Message): void {
    const { record, pipeline, events, now } = this.o;
    record.row.status = "running";
    events.append({ type: "run_started", data: { pipeline: pipeline.name } }, now());
    for (const step of pipeline.entrySteps) this.enqueue(step, null, input);
    this.drive();
  }

  /** Runs every ready work item; synchronous steps finish inside this burst. Ends with a flush. */
  drive(): void {
    // A queued run waits for admission: nothing runs, and an empty work list does not mean done.
    if (this.record.row.status === "pending") return this.flush();
    if (this.driving) return;
    this.driving = true;
    try {
      let ready = this.readyItems();
      while (ready.length > 0 && !this.record.terminal) {
        for (const item of ready) {
          const step = this.o.pipeline.step(item.step);
          if (step.kind === "queued") this.send(item, step);
          else if (step.kind === "remote") this.call(item, step);
          else this.execute(item);
        }
        ready = this.readyItems();
      }
      if (!this.record.terminal && this.record.work.size === 0 && this.executing.size === 0) {
        this.finish("completed", null);
      }
    } finally {
      this.driving = false;
    }
    this.flush();
  }

  /** Called by the alarm: enforces the deadline, re-drives work lost to an eviction, re-arms. */
  watchdog(): void {
    const { record, now } = this.o;
    if (record.terminal) return this.flush();
    if (now() >= record.row.deadlineAt) {
      const seconds = Math.round((record.row.deadlineAt - record.row.createdAt) / 1000);
      this.finish("failed", { code: "run_timeout", message: `run exceeded its timeout of ${seconds} s` });
      return this.flush();
    }
    if (record.row.status === "pending") return this.flush();
    for (const item of record.work.values()) {
      const kind = this.o.pipeline.step(item.step).kind;
      if (kind === "remote") {
        // Handing an invocation over again is harmless (its address knows the key), so there is no cap.
        if (item.state !== "pending" && item.leaseUntil !== null && item.leaseUntil <= now()) item.state = "pending";
        continue;
      }
      if (kind === "queued") {
        if (item.state === "pending" || item.leaseUntil === null || item.leaseUntil > now()) continue;
        if (item.sends >= MAX_STAGE_SENDS) {
          this.fail(item.step, `queued step '${item.step}' made no progress: it was sent ${item.sends} times and no consumer finished it`);
          return this.flush();
        }
        item.state = "pending";
        continue;
      }
      if (item.state === "running" && !this.executing.has(item.key)) {
        if (item.attempt >= MAX_INLINE_ATTEMPTS) {
          this.fail(item.step, `step '${item.step}' was interrupted ${item.attempt} times and did not finish`);
          return this.flush();
        }
        item.state = "pending";
      }
    }
    this.drive();
  }

  /** Ends the run as cancelled; steps still executing are told through their signal, their output ignored. */
  cancel(reason: string): boolean {
    if (this.record.terminal) return false;
    this.finish("cancelled", { code: "run_cancelled", message: reason });
    this.flush();
    return true;
  }

  /** A consumer asks to run a queued step: yes while the run and the work item are waiting for it. */
  claimStage(key: string): StageClaimOutcome {
    const { record, events, now, pipeline } = this.o;
    const item = this.awaitedItem(key, "queued");
    if (typeof item === "string") return { proceed: false, reason: item };
    const step = pipeline.step(item.step) as QueuedStepDefinition;
    item.state = "running";
    item.attempt += 1;
    item.leaseUntil = now() + (step.timeoutSeconds ?? QUEUED_STEP_MAX_SECONDS) * 1000 + this.o.stageLeaseMs;
    const state = this.stepState(item.step);
    state.status = "running";
    state.started += 1;
    state.firstStartedAt ??= now();
    events.append({ type: "step_started", step: item.step, data: { key, attempt: item.attempt } }, now());
    this.flush();
    return { proceed: true, attempt: item.attempt, headers: record.row.headers };
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
    const { events, now } = this.o;
    const item = this.awaitedItem(report.key, "queued");
    if (typeof item === "string") return { accepted: false, reason: item };
    // A report from an attempt that a newer claim has replaced must not shorten the newer lease.
    if (report.attempt !== item.attempt) return { accepted: false, reason: "stale" };
    item.state = "queued";
    item.leaseUntil = now() + report.delaySeconds * 1000 + this.o.stageLeaseMs;
    const state = this.stepState(item.step);
    state.status = "queued";
    state.retried = (state.retried ?? 0) + 1;
    const data = { key: item.key, attempt: report.attempt, error: report.error, delay_s: report.delaySeconds, ms: report.ms };
    events.append({ type: "step_retrying", step: item.step, data }, now());
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

  /** The sent-out work item a report is about (of a queued or remote step), or why there is none to act on. */
  private awaitedItem(key: string, kind: "queued" | "remote"): WorkItem | "run_ended" | "settled" {
    if (this.record.terminal) return "run_ended";
    if (this.record.row.status === "pending") return "settled";
    const item = this.record.work.get(key);
    if (!item || item.state === "pending" || this.o.pipeline.step(item.step).kind !== kind) return "settled";
    return item;
  }

  /** Pending items that may run now (a held-back item waits for its time). */
  private readyItems(): WorkItem[] {
    const now = this.o.now();
    return [...this.record.work.values()].filter((w) => w.state === "pending" && (w.leaseUntil === null || w.leaseUntil <= now));
  }

  private enqueue(step: string, from: string | null, message: Message, held: { notBefore?: number; token?: string } = {}): void {
    const row = this.record.row;
    const key = `${row.id}/${step}/${row.nextMessage++}`;
    this.record.work.set(key, {
      key, step, from, message: storeMessage(message), attempt: 0, state: "pending",
      leaseUntil: held.notBefore ?? null, sends: 0, token: held.token ?? null,
    });
    this.stepState(step);
  }

  /** Records a queued step's input as sent and plans the message; `flush` sends it once persisted. */
  private send(item: WorkItem, step: QueuedStepDefinition): void {
    const { record, events, now, pipeline } = this.o;
    item.state = "queued";
    item.sends += 1;
    item.leaseUntil = now() + this.o.stageLeaseMs;
    const plan = planStage(
      { kind: "stage", runId: record.row.id, pipeline: pipeline.name, step: step.name, key: item.key, attempt: item.sends },
      item.message,
    );
    if (plan.r2) record.row.payloadsInR2 = true;
    this.outbox.push({ key: item.key, sends: item.sends, plan });
    const state = this.stepState(item.step);
    if (state.status === "pending") state.status = "queued";
    const data: Record<string, JsonValue> = { key: item.key, send: item.sends };
    if (plan.r2) data.payload = "r2";
    events.append({ type: "step_queued", step: item.step, data }, now());
  }

  /** Records a remote step's invocation as handed over; `flush` hands it to its address once persisted. */
  private call(item: WorkItem, step: RemoteStepDefinition): void {
    const { record, events, now, pipeline } = this.o;
    const endpoint = matchEndpoint(pipeline.definition.endpoints, step.function);
    const message = loadMessage(item.message);
    let invocation: RemoteInvocation;
    try {
      if (!endpoint) throw new Error(`no endpoint serves function '${step.function}'`);
      const [namespace = "", type = ""] = step.function.split("/");
      invocation = {
        address: { namespace, type, id: message.keys[0] ?? record.row.id },
        key: item.key,
        runId: record.row.id,
        pipeline: pipeline.name,
        step: step.name,
        argument: toBinary(TypedValueSchema, encodeArgument(message, step.argumentType)),
        ...(message.caller ? { caller: message.caller } : {}),
        call: {
          url: resolveFunctionUrl(endpoint, step.function, this.o.env),
          timeouts: endpoint.timeouts,
          payloadMaxBytes: endpoint.payloadMaxBytes,
          maxNumBatchRequests: endpoint.maxNumBatchRequests,
          output: step.output,
        },
      };
    } catch (error) {
      this.stepFailed(item, error instanceof Error ? error.message : String(error), null);
      return;
    }
    item.state = "queued";
    item.sends += 1;
    item.leaseUntil = now() + invocation.call.timeouts.call + this.o.stageLeaseMs;
    if (item.sends === 1) {
      item.attempt += 1;
      const state = this.stepState(item.step);
      state.status = "running";
      state.started += 1;
      state.firstStartedAt ??= now();
      const address = `${invocation.address.namespace}/${invocation.address.type}/${invocation.address.id}`;
      events.append({ type: "step_started", step: item.step, data: { key: item.key, attempt: item.attempt, address } }, now());
    }
    this.invocations.push({ key: item.key, sends: item.sends, invocation });
  }

  /** A function address reports a batch: its outputs, messages to other functions, or its failure. */
  completeRemote(report: RemoteReport): StageReportOutcome {
    const { pipeline, now } = this.o;
    const answers = report.keys.map((key) => this.awaitedItem(key, "remote"));
    const items = answers.filter((a): a is WorkItem => typeof a !== "string");
    const first = items[0];
    if (!first) return { accepted: false, reason: answers.includes("run_ended") ? "run_ended" : "settled" };
    if (!report.ok) {
      this.stepFailed(first, report.error, report.ms);
      this.flush();
      return { accepted: true };
    }
    // In the order the function made them: a cancellation removes a delayed message sent before it.
    for (const sent of report.messages) {
      if ("cancel" in sent) {
        for (const [key, w] of this.record.work) if (w.token === sent.cancel && w.state === "pending") this.record.work.delete(key);
        continue;
      }
      const target = pipeline.definition.steps.find((s) => s.kind === "remote" && s.function === sent.function);
      if (!target) {
        this.stepFailed(first, `function '${sent.function}' was sent a message, but no remote step of pipeline '${pipeline.name}' calls it`, report.ms);
        this.flush();
        return { accepted: true };
      }
      const message = { ...loadMessage(sent.message), caller: report.caller };
      const held = { ...(sent.delayMs ? { notBefore: now() + sent.delayMs } : {}), ...(sent.cancellationToken ? { token: sent.cancellationToken } : {}) };
      this.enqueue(target.name, first.step, message, held);
    }
    // One request served the whole batch: its outputs are recorded on the batch's first invocation.
    items.forEach((item, i) => this.stepCompleted(item, i === 0 ? report.outputs.map(loadMessage) : [], report.ms, { batch: items.length }));
    this.drive();
    return { accepted: true };
  }

  /** An address held a call back (its mailbox is full) or could not be reached: try again later. */
  private callDeferred(key: string, sends: number, retryAfterMs: number): void {
    const item = this.record.work.get(key);
    if (this.record.terminal || !item || item.state !== "queued" || item.sends !== sends) return;
    item.state = "pending";
    item.leaseUntil = this.o.now() + retryAfterMs;
    const state = this.stepState(item.step);
    state.heldBack = (state.heldBack ?? 0) + 1;
    this.flush();
  }

  /** Hands the invocations of the burst just persisted to their addresses. */
  private sendInvocations(): void {
    if (this.invocations.length === 0) return;
    const sent = this.invocations;
    this.invocations = [];
    if (this.record.terminal) return;
    this.o.sendInvocations(sent.map((s) => s.invocation)).then((outcomes) => {
      outcomes.forEach((outcome, i) => {
        const { key, sends } = sent[i]!;
        if (outcome instanceof Error) {
          console.error(`edgeserve: handing ${key} to its function address failed, will retry: ${outcome.message}`);
          this.callDeferred(key, sends, CALL_RETRY_MS);
        } else if (!outcome.accepted) {
          this.callDeferred(key, sends, outcome.retryAfterMs);
        }
      });
    }, (error: unknown) => console.error(`edgeserve: handing invocations over failed: ${String(error)}`));
  }

  /** Sends the stages of the burst just persisted; a send that fails is left to the watchdog. */
  private sendOutbox(): void {
    if (this.outbox.length === 0) return;
    const sent = this.outbox;
    this.outbox = [];
    if (this.record.terminal) return;
    this.o.sendStages(sent.map((s) => s.plan)).catch((error: unknown) => {
      console.error(`edgeserve: sending ${sent.length} stages of run ${this.record.row.id} failed; the watchdog sends them again: ${String(error)}`);
      if (this.record.terminal) return;
      for (const { key, sends } of sent) {
        const item = this.record.work.get(key);
        if (item && item.state === "queued" && item.sends === sends) item.leaseUntil = this.o.now();
      }
      this.flush();
    });
  }

  private execute(item: WorkItem): void {
    const { pipeline, events, now, record } = this.o;
    const step = pipeline.step(item.step);
    if (step.kind !== "inline") throw new Error(`step '${item.step}' of kind '${step.kind}' cannot execute`);
    item.state = "running";
    item.attempt += 1;
    const state = this.stepState(item.step);
    state.status = "running";
    state.started += 1;
    state.firstStartedAt ??= now();
    events.append({ type: "step_started", step: item.step, data: { key: item.key, attempt: item.attempt } }, now());

    const controller = new AbortController();
    this.executing.set(item.key, controller);
    const context: StepContext = {
      runId: record.row.id,
      pipeline: pipeline.name,
      step: item.step,
      headers: record.row.headers,
      signal: controller.signal,
    };
    const startedAt = now();
    let returned;
    try {
      returned = step.run(loadMessage(item.message), context);
    } catch (error) {
      return this.settle(item, startedAt, { error });
    }
    if (!(returned instanceof Promise)) return this.settle(item, startedAt, { returned });

    const timeoutMs = (step.timeoutSeconds ?? 0) * 1000;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            controller.abort();
            this.settle(item, startedAt, { error: new Error(`timed out after ${step.timeoutSeconds} s`) });
            this.drive();
          }, timeoutMs)
        : undefined;
    returned
      .then(
        (value) => this.settle(item, startedAt, { returned: value }),
        (error: unknown) => this.settle(item, startedAt, { error }),
      )
      .finally(() => {
        if (timer !== undefined) clearTimeout(timer);
        this.drive();
      });
  }

  /** Applies an inline step's outcome once: a second outcome for the same key (late, duplicate) changes nothing. */
  private settle(item: WorkItem, startedAt: number, outcome: { returned?: unknown; error?: unknown }): void {
    const { record, now } = this.o;
    if (this.executing.get(item.key) === undefined) return;
    this.executing.delete(item.key);
    if (record.terminal || !record.work.has(item.key)) return;
    let error = outcome.error;
    let outputs: Message[] = [];
    if (error === undefined) {
      try {
        outputs = normaliseStepOutput(outcome.returned as Parameters<typeof normaliseStepOutput>[0]);
      } catch (invalid) {
        error = invalid;
      }
    }
    if (error !== undefined) {
      this.stepFailed(item, error instanceof Error ? error.message : String(error), now() - startedAt);
    } else {
      this.stepCompleted(item, outputs, now() - startedAt);
    }
  }

  /** Records a step's failure and fails the run. `ms` is null when the failure was not timed here. */
  private stepFailed(item: WorkItem, message: string, ms: number | null): void {
    const { events, now } = this.o;
    const state = this.stepState(item.step);
    state.lastFinishedAt = now();
    state.failed += 1;
    state.status = "failed";
    const capture = this.o.capture.step(item.step);
    const data: Record<string, JsonValue> = { key: item.key, error: message };
    if (ms !== null) data.ms = ms;
    if (capture.payloads || capture.payloadsOnError) data.input = captured(loadMessage(item.message).value, capture);
    events.append({ type: "step_failed", step: item.step, data }, now());
    this.fail(item.step, `step '${item.step}' failed: ${message}`);
  }

  /** Records a step's outputs and routes them on along its edges. */
  private stepCompleted(item: WorkItem, outputs: Message[], ms: number, extra: Record<string, JsonValue> = {}): void {
    const { record, events, pipeline, now } = this.o;
    const state = this.stepState(item.step);
    state.lastFinishedAt = now();
    state.completed += 1;
    record.work.delete(item.key);
    if (state.completed >= state.started && ![...record.work.values()].some((w) => w.step === item.step)) {
      state.status = "completed";
    }
    const capture = this.o.capture.step(item.step);
    const data: Record<string, JsonValue> = { key: item.key, from: item.from ?? item.step, outputs: outputs.length, ms, ...extra };
    if (capture.payloads) {
      data.input = captured(loadMessage(item.message).value, capture);
      data.output = captured(outputs.length === 1 ? outputs[0]!.value : outputs.map((o) => o.value), capture);
    }
    events.append({ type: "step_completed", step: item.step, data }, now());
    for (const delivery of routeOutputs(pipeline, item.step, outputs)) {
      if (pipeline.step(delivery.to).kind === "sink") this.deliverToSink(delivery.from, delivery.to, delivery.message);
      else this.enqueue(delivery.to, delivery.from, delivery.message);
    }
  }

  private deliverToSink(from: string, sink: string, message: Message): void {
    const { record, results, events, now } = this.o;
    const index = record.row.resultCount++;
    results.append(index, { bytes: valueToBytes(message.value), contentType: valueContentType(message.value) });
    const state = this.stepState(sink);
    state.started += 1;
    state.completed += 1;
    state.status = "completed";
    state.firstStartedAt ??= now();
    state.lastFinishedAt = now();
    events.append({ type: "result", step: sink, data: { index, from } }, now());
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
    for (const controller of this.executing.values()) controller.abort();
    this.executing.clear();
    record.work.clear();
    const type = status === "completed" ? "run_completed" : status === "failed" ? "run_failed" : "run_cancelled";
    const stepsExecuted = countStepsExecuted(this.o.pipeline, row.steps);
    const data: Record<string, JsonValue> = error
      ? { code: error.code, message: error.message }
      : { results: row.resultCount, steps_executed: stepsExecuted };
    if (error?.step) data.step = error.step;
    events.append({ type, data }, row.finishedAt);
  }

  /**
   * When the watchdog must look next: at the deadline, at the earliest lease of a queued step, and
   * within `watchdogAt` while an inline step runs (an eviction would lose it silently).
   */
  private nextCheckAt(watchdogAt: number): number {
    let at = this.record.row.deadlineAt;
    for (const item of this.record.work.values()) {
      // Queued and remote items are checked at their lease (or, held back, when they may go).
      const sentOut = this.o.pipeline.step(item.step).kind !== "inline" || item.state === "pending";
      at = Math.min(at, sentOut && item.leaseUntil !== null ? item.leaseUntil : watchdogAt);
    }
    return at;
  }

  private stepState(step: string): StepState {
    const steps = this.record.row.steps;
    return (steps[step] ??= { status: "pending", started: 0, completed: 0, failed: 0 });
  }

  /** Persists the burst (run row, work diff, events) atomically and keeps the alarm armed. */
  private flush(): void {
    const { sql, storage, record, events, now, watchdogMs, alarm } = this.o;
    storage.transactionSync(() => {
      events.flush();
      record.save(sql);
    });
    const row = record.row;
    const alarmAt = record.terminal ? (row.expiresAt ?? now()) : this.nextCheckAt(now() + watchdogMs);
    // The watchdog alarm of a running run must be durable before anyone hears of the run. The
    // retention alarm of a finished run need not hold the answer back (it cost a sync call a few
    // ms locally): if the object dies before the write lands, the next access re-arms it.
    if (record.terminal && !this.terminalReported) alarm.set(alarmAt, { allowUnconfirmed: true });
    else alarm.noLaterThan(alarmAt);
    if (!record.terminal && this.deadlineTimer === undefined) {
      this.deadlineTimer = setTimeout(() => this.watchdog(), Math.max(0, row.deadlineAt - now()));
    }
    if (record.terminal && !this.terminalReported) {
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      this.terminalReported = true;
      this.o.onTerminal();
    }
    this.armWakeTimer();
    // Last, after every write of the burst: the output gate holds the messages until they are durable.
    this.sendOutbox();
    this.sendInvocations();
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
    const timer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.drive();
    }, Math.max(0, at - this.o.now()));
    this.wakeTimer = { at, timer };
  }
}

/** A payload as the step's capture policy lets the event log keep it (bytes as their base64 text). */
function captured(value: MessageValue | MessageValue[], policy: CapturePolicy): JsonValue {
  const plain = Array.isArray(value)
    ? value.map((v) => (v instanceof Uint8Array ? bytesToBase64(v) : v))
    : value instanceof Uint8Array
      ? bytesToBase64(value)
      : value;
  return capturedValue(plain, policy) as JsonValue;
}
