/**
 * The run's account of its steps: each step's state in the run row (attempts started, completed,
 * failed, when) and the step events of the log (`step_started`, `step_completed`, `step_failed`,
 * `result`), with payloads kept as the step's capture policy allows. The orchestrator and the
 * dispatchers record through it; what happens to the run and its messages is not its business.
 */
import { capturedValue, type CapturePolicy } from "../../../src/capture/policy";
import { bytesToBase64, loadMessage, valueContentType, valueToBytes, type JsonValue, type Message, type MessageValue } from "../../../src/pipeline/message";
import type { StepState } from "../../../src/runs/protocol";
import type { OrchestratorOptions } from "../orchestrator-options";
import type { WorkItem } from "../run-record";

export class StepLedger {
  constructor(private readonly o: Pick<OrchestratorOptions, "record" | "events" | "capture" | "results" | "now">) {}

  /** The step's state in the run row (created on first use). */
  state(step: string): StepState {
    const steps = this.o.record.row.steps;
    return (steps[step] ??= { status: "pending", started: 0, completed: 0, failed: 0 });
  }

  /** A new attempt of a work item starts: counted, the step marked running, `step_started` logged (with `extra`). */
  markStarted(item: WorkItem, extra: Record<string, JsonValue> = {}): void {
    const { events, now } = this.o;
    item.attempt += 1;
    const state = this.state(item.step);
    // A new attempt streams anew: deltas of an earlier one are void (their events carry its attempt).
    if (state.deltas !== undefined) state.deltas = 0;
    state.status = "running";
    state.started += 1;
    state.firstStartedAt ??= now();
    events.append({ type: "step_started", step: item.step, data: { key: item.key, attempt: item.attempt, ...extra } }, now());
  }

  /**
   * A work item's attempt was lost without an outcome and will run again: counted, the step back
   * to pending, `step_interrupted` logged with `reason`.
   */
  markInterrupted(item: WorkItem, reason: string): void {
    const { events, now } = this.o;
    const state = this.state(item.step);
    state.interrupted = (state.interrupted ?? 0) + 1;
    state.status = "pending";
    events.append({ type: "step_interrupted", step: item.step, data: { key: item.key, attempt: item.attempt, reason } }, now());
  }

  /**
   * A work item's step produced `outputs` (the item has left the run's work): counted, the step
   * completed when nothing of it is left (its status follows its last attempts, whatever attempts
   * were lost or retried before), `step_completed` logged.
   */
  markCompleted(item: WorkItem, outputs: Message[], ms: number, extra: Record<string, JsonValue> = {}): void {
    const { record, events, now } = this.o;
    const state = this.state(item.step);
    state.lastFinishedAt = now();
    state.completed += 1;
    if (![...record.work.values()].some((w) => w.step === item.step)) state.status = "completed";
    const capture = this.o.capture.step(item.step);
    const data: Record<string, JsonValue> = { key: item.key, from: item.from ?? item.step, outputs: outputs.length, ms, ...extra };
    if (item.parent !== undefined) data.parent = item.parent;
    if (capture.payloads) {
      data.input = captured(loadMessage(item.message).value, capture);
      data.output = captured(outputs.length === 1 ? outputs[0]!.value : outputs.map((o) => o.value), capture);
    }
    events.append({ type: "step_completed", step: item.step, data }, now());
  }

  /** A work item's step failed: counted, the step failed, `step_failed` logged. `ms` is null when not timed here. */
  markFailed(item: WorkItem, message: string, ms: number | null): void {
    const { events, now } = this.o;
    const state = this.state(item.step);
    state.lastFinishedAt = now();
    state.failed += 1;
    state.status = "failed";
    const capture = this.o.capture.step(item.step);
    const data: Record<string, JsonValue> = { key: item.key, error: message };
    if (ms !== null) data.ms = ms;
    if (capture.payloads || capture.payloadsOnError) data.input = captured(loadMessage(item.message).value, capture);
    events.append({ type: "step_failed", step: item.step, data }, now());
  }

  /** A failed attempt will be tried again after `delaySeconds`: counted, logged as `step_retrying`. */
  markRetrying(item: WorkItem, error: string, delaySeconds: number, ms: number): void {
    const { events, now } = this.o;
    const state = this.state(item.step);
    state.status = "pending";
    state.retried = (state.retried ?? 0) + 1;
    events.append({ type: "step_retrying", step: item.step, data: { key: item.key, attempt: item.attempt, error, delay_s: delaySeconds, ms } }, now());
  }

  /** A running step streamed a piece of its output: numbered within the step's attempt, logged as `step_delta`. */
  recordDelta(item: WorkItem, delta: string): void {
    const { events, now } = this.o;
    const state = this.state(item.step);
    const index = state.deltas ?? 0;
    state.deltas = index + 1;
    events.append({ type: "step_delta", step: item.step, data: { index, delta, attempt: item.attempt } }, now());
  }

  /**
   * A message reached a sink: stored as the run's next result, the sink counted, `result` logged,
   * with the invocation that emitted it and its place among that invocation's deliveries (`path`).
   */
  recordResult(from: string, sink: string, message: Message, path?: { parent: string; seq: number }): void {
    const { record, results, events, now } = this.o;
    const index = record.row.resultCount++;
    results.append(index, { bytes: valueToBytes(message.value), contentType: valueContentType(message.value) });
    const state = this.state(sink);
    state.started += 1;
    state.completed += 1;
    state.status = "completed";
    state.firstStartedAt ??= now();
    state.lastFinishedAt = now();
    events.append({ type: "result", step: sink, data: { index, from, ...(path ?? {}) } }, now());
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
