/**
 * The run's state machine: message passing over the step graph, in-flight accounting, failure,
 * cancellation and timeouts. Progress happens in bursts (a synchronous stretch between awaits);
 * each burst ends with `flush`, which persists everything the burst changed in one transaction.
 */
import type { StepContext } from "../../src/pipeline/definition";
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
import { countStepsExecuted } from "../../src/runs/steps-executed";
import type { EventLog } from "./event-log";
import type { RunCapturePolicy } from "./run-capture";
import type { ResultStore } from "./result-store";
import type { RunRecord, WorkItem } from "./run-record";
import type { Sql } from "./sql";

/** An inline step interrupted this many times (evictions mid-step) fails the run instead of looping. */
export const MAX_INLINE_ATTEMPTS = 3;

export interface OrchestratorOptions {
  capture: RunCapturePolicy;
  sql: Sql;
  storage: DurableObjectStorage;
  record: RunRecord;
  pipeline: Pipeline;
  events: EventLog;
  results: ResultStore;
  retentionMs: number;
  watchdogMs: number;
  now: () => number;
  /** Called once, after the burst that ended the run has been persisted. */
  onTerminal: () => void;
}

export class Orchestrator {
  /** Steps executing in this instance, by work key; lost on eviction, which is how the watchdog knows. */
  private readonly executing = new Map<string, AbortController>();
  private driving = false;
  private armedAlarmAt: number | undefined;
  private terminalReported = false;
  /** Ends the run at its deadline to the millisecond; the alarm is the durable backstop. */
  private deadlineTimer: ReturnType<typeof setTimeout> | undefined;

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
        for (const item of ready) this.execute(item);
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
      if (item.state === "running" && !this.executing.has(item.key)) {
        if (item.attempt >= MAX_INLINE_ATTEMPTS) {
          this.fail(item.step, `step '${item.step}' was interrupted ${item.attempt} times and did not finish`);
          return this.flush();
        }
        item.state = "pending";
      }
    }
    this.armedAlarmAt = undefined;
    this.drive();
  }

  /** Ends the run as cancelled; steps still executing are told through their signal, their output ignored. */
  cancel(reason: string): boolean {
    if (this.record.terminal) return false;
    this.finish("cancelled", { code: "run_cancelled", message: reason });
    this.flush();
    return true;
  }

  private readyItems(): WorkItem[] {
    return [...this.record.work.values()].filter((w) => w.state === "pending");
  }

  private enqueue(step: string, from: string | null, message: Message): void {
    const row = this.record.row;
    const key = `${row.id}/${step}/${row.nextMessage++}`;
    this.record.work.set(key, { key, step, from, message: storeMessage(message), attempt: 0, state: "pending" });
    this.stepState(step);
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

  /** Applies a step's outcome once: a second outcome for the same key (late, duplicate) changes nothing. */
  private settle(item: WorkItem, startedAt: number, outcome: { returned?: unknown; error?: unknown }): void {
    const { record, events, pipeline, now } = this.o;
    if (this.executing.get(item.key) === undefined) return;
    this.executing.delete(item.key);
    if (record.terminal || !record.work.has(item.key)) return;

    let outputs: Message[] = [];
    let error = outcome.error;
    if (error === undefined) {
      try {
        outputs = normaliseStepOutput(outcome.returned as Parameters<typeof normaliseStepOutput>[0]);
      } catch (invalid) {
        error = invalid;
      }
    }
    const state = this.stepState(item.step);
    state.lastFinishedAt = now();
    const capture = this.o.capture.step(item.step);
    if (error !== undefined) {
      state.failed += 1;
      state.status = "failed";
      const message = error instanceof Error ? error.message : String(error);
      const data: Record<string, JsonValue> = { key: item.key, error: message, ms: now() - startedAt };
      if (capture.payloads || capture.payloadsOnError) data.input = captured(loadMessage(item.message).value, capture);
      events.append({ type: "step_failed", step: item.step, data }, now());
      this.fail(item.step, `step '${item.step}' failed: ${message}`);
      return;
    }
    state.completed += 1;
    record.work.delete(item.key);
    if (state.completed >= state.started && ![...record.work.values()].some((w) => w.step === item.step)) {
      state.status = "completed";
    }
    const data: Record<string, JsonValue> = { key: item.key, from: item.from ?? item.step, outputs: outputs.length, ms: now() - startedAt };
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

  private stepState(step: string): StepState {
    const steps = this.record.row.steps;
    return (steps[step] ??= { status: "pending", started: 0, completed: 0, failed: 0 });
  }

  /** Persists the burst (run row, work diff, events) atomically and keeps the alarm armed. */
  private flush(): void {
    const { sql, storage, record, events, now, watchdogMs } = this.o;
    storage.transactionSync(() => {
      events.flush();
      record.save(sql);
    });
    const row = record.row;
    const alarmAt = record.terminal ? (row.expiresAt ?? now()) : Math.min(row.deadlineAt, now() + watchdogMs);
    // Re-arm only when the alarm would fire later than needed; each setAlarm is a storage write.
    if (this.armedAlarmAt === undefined || record.terminal !== this.terminalReported || alarmAt < this.armedAlarmAt) {
      // The watchdog alarm of a running run must be durable before anyone hears of the run. The
      // retention alarm of a finished run need not hold the answer back (it cost a sync call a
      // few ms locally): if the object dies before the write lands, the next access re-arms it.
      void storage.setAlarm(alarmAt, { allowUnconfirmed: record.terminal });
      this.armedAlarmAt = alarmAt;
    }
    if (!record.terminal && this.deadlineTimer === undefined) {
      this.deadlineTimer = setTimeout(() => this.watchdog(), Math.max(0, row.deadlineAt - now()));
    }
    if (record.terminal && !this.terminalReported) {
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      this.terminalReported = true;
      this.o.onTerminal();
    }
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
