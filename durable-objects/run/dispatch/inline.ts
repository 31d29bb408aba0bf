/**
 * Inline steps run inside the Run object, in the burst that dispatched them (a synchronous step)
 * or across awaits (an async one, bounded by its timeout). An execution lost to an eviction is
 * noticed by the watchdog (the item is `running` but nothing here executes it) and run again.
 */
import type { RetryPolicy, StepContext, StepReturn } from "../../../src/pipeline/definition";
import { backoffSeconds } from "../../../src/pipeline/retry";
import { messageForStep, type Message } from "../../../src/pipeline/message";
import { isThenable, normaliseStepOutput } from "../../../src/pipeline/step-output";
import type { WorkItem } from "../run-record";
import type { DispatchHost, StepDispatcher } from "./step-dispatcher";

/** An inline step interrupted this many times (evictions mid-step) fails the run instead of looping. */
export const MAX_INLINE_ATTEMPTS = 3;

export class InlineDispatcher implements StepDispatcher {
  /** Steps executing in this instance, by work key; lost on eviction, which is how the watchdog knows. */
  private readonly running = new Map<string, AbortController>();
  /** Step functions that have not returned yet, abandoned ones (of an ended run) included. */
  private pending = 0;

  constructor(private readonly host: DispatchHost) {}

  get executing(): number {
    return this.running.size;
  }

  /** Whether a step function has yet to return, even one its run has abandoned (it drives the run once it does). */
  get unsettled(): boolean {
    return this.pending > 0;
  }

  /** Executes the step: a synchronous one settles before this returns. */
  dispatch(item: WorkItem): void {
    const { pipeline, now, record } = this.host.options;
    const step = pipeline.step(item.step);
    if (step.kind !== "inline") throw new Error(`step '${item.step}' of kind '${step.kind}' cannot execute`);
    item.state = "running";
    this.host.steps.markStarted(item);

    const controller = new AbortController();
    this.running.set(item.key, controller);
    const context: StepContext = {
      runId: record.row.id,
      pipeline: pipeline.name,
      step: item.step,
      headers: record.row.headers,
      signal: controller.signal,
      emit: (delta) => {
        if (typeof delta !== "string") throw new TypeError(`step '${item.step}' emitted a ${typeof delta}; emit takes text`);
        if (delta.length > 0) this.host.stepDelta(item, delta);
      },
      env: this.host.options.env,
    };
    const startedAt = now();
    let returned: StepReturn | Promise<StepReturn>;
    try {
      returned = step.run(messageForStep(item.message), context);
    } catch (error) {
      return this.settle(item, startedAt, { error });
    }
    if (!isThenable(returned)) return this.settle(item, startedAt, { returned });

    const timeoutMs = (step.timeoutSeconds ?? 0) * 1000;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            controller.abort();
            this.settle(item, startedAt, { error: new Error(`timed out after ${step.timeoutSeconds} s`) });
            this.host.drive();
          }, timeoutMs)
        : undefined;
    this.pending += 1;
    Promise.resolve(returned)
      .then(
        (value) => this.settle(item, startedAt, { returned: value }),
        (error: unknown) => this.settle(item, startedAt, { error }),
      )
      .finally(() => {
        this.pending -= 1;
        if (timer !== undefined) clearTimeout(timer);
        this.host.drive();
      });
  }

  /** An item `running` that nothing here executes was lost to an eviction: run it again, a few times at most. */
  watchdog(item: WorkItem): string | undefined {
    if (item.state !== "running" || this.running.has(item.key)) return undefined;
    if (item.attempt >= MAX_INLINE_ATTEMPTS) return `step '${item.step}' was interrupted ${item.attempt} times and did not finish`;
    item.state = "pending";
    this.host.steps.markInterrupted(item, "the Run object was reset while the step ran");
    return undefined;
  }

  /** A held-back item when it may go; a running one within the regular check (an eviction would lose it silently). */
  nextCheckAt(item: WorkItem, watchdogAt: number): number {
    return item.state === "pending" && item.leaseUntil !== null ? item.leaseUntil : watchdogAt;
  }

  abandon(): void {
    for (const controller of this.running.values()) controller.abort();
    this.running.clear();
  }

  persisted(): void {}

  private retryPolicyOf(item: WorkItem): RetryPolicy | undefined {
    const step = this.host.options.pipeline.step(item.step);
    return step.kind === "inline" ? step.retry : undefined;
  }

  /** Applies a step's outcome once: a second outcome for the same key (late, duplicate) changes nothing. */
  private settle(item: WorkItem, startedAt: number, outcome: { returned?: unknown; error?: unknown }): void {
    const { record, now } = this.host.options;
    if (this.running.get(item.key) === undefined) return;
    this.running.delete(item.key);
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
      const message = error instanceof Error ? error.message : String(error);
      const retry = this.retryPolicyOf(item);
      if (retry && item.attempt < retry.maxAttempts) {
        // Tried again after the backoff; the wake timer (and the alarm) dispatch it then.
        const delay = backoffSeconds(retry, item.attempt);
        item.state = "pending";
        item.leaseUntil = now() + delay * 1000;
        this.host.steps.markRetrying(item, message, delay, now() - startedAt);
      } else {
        this.host.stepFailed(item, message, now() - startedAt);
      }
    } else {
      this.host.stepCompleted(item, outputs, now() - startedAt);
    }
  }
}
