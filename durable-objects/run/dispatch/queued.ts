/**
 * Queued steps run in the stage queue's consumer. Dispatching records the item as sent and plans
 * its message; the message leaves once the burst that recorded it is persisted. The consumer
 * claims the item and reports back; an item not heard of before its lease passes is sent again,
 * a few times at most. A send the queue refuses is not counted: it goes again after a backoff.
 */
import type { QueuedStepDefinition } from "../../../src/pipeline/definition";
import type { JsonValue } from "../../../src/pipeline/message";
import { planStage, type StagePlan } from "../../../src/queues/stage-transport";
import type { StageRetry } from "../../../src/runs/stage-protocol";
import type { WorkItem } from "../run-record";
import { sendsFailed, sendsSucceeded } from "./failed-sends";
import type { DispatchHost, StepDispatcher } from "./step-dispatcher";

/** A queued step sent this many times without a consumer finishing it fails the run. */
export const MAX_STAGE_SENDS = 5;

/** A claimed queued step with no timeout of its own may run this long: a consumer's wall-clock limit (platform §3). */
export const QUEUED_STEP_MAX_SECONDS = 900;

export class QueuedDispatcher implements StepDispatcher {
  readonly executing = 0;
  /** Stages recorded as sent in this burst, sent once the burst is persisted. */
  private outbox: { key: string; sends: number; plan: StagePlan }[] = [];

  constructor(private readonly host: DispatchHost) {}

  /** Records the step's input as sent and plans the message; `persisted` sends it. */
  dispatch(item: WorkItem): void {
    const { record, events, now, pipeline, stageLeaseMs } = this.host.options;
    item.state = "queued";
    item.sends += 1;
    item.leaseUntil = now() + stageLeaseMs;
    const plan = planStage({ kind: "stage", runId: record.row.id, pipeline: pipeline.name, step: item.step, key: item.key, attempt: item.sends }, item.message);
    if (plan.r2) record.row.payloadsInR2 = true;
    this.outbox.push({ key: item.key, sends: item.sends, plan });
    const state = this.host.steps.state(item.step);
    if (state.status === "pending") state.status = "queued";
    const data: Record<string, JsonValue> = { key: item.key, send: item.sends };
    if (plan.r2) data.payload = "r2";
    events.append({ type: "step_queued", step: item.step, data }, now());
  }

  /** A sent item whose lease passed is sent again, until it has been sent `MAX_STAGE_SENDS` times. */
  watchdog(item: WorkItem): string | undefined {
    if (item.state === "pending" || item.leaseUntil === null || item.leaseUntil > this.host.options.now()) return undefined;
    if (item.sends >= MAX_STAGE_SENDS) {
      return `queued step '${item.step}' made no progress: it was sent ${item.sends} times and no consumer finished it`;
    }
    // Claimed, then not heard of: the attempt was lost with its consumer.
    if (item.state === "running") this.host.steps.markInterrupted(item, "no report from the consumer that claimed it before its lease passed");
    item.state = "pending";
    return undefined;
  }

  /** At its lease (sent out), or when it may go (held back). */
  nextCheckAt(item: WorkItem, watchdogAt: number): number {
    return item.leaseUntil ?? watchdogAt;
  }

  abandon(): void {}

  /** A consumer claimed the item: it runs now, leased for the step's timeout and the lease margin. */
  claim(item: WorkItem): void {
    const { now, pipeline, stageLeaseMs } = this.host.options;
    const step = pipeline.step(item.step) as QueuedStepDefinition;
    item.state = "running";
    item.leaseUntil = now() + (step.timeoutSeconds ?? QUEUED_STEP_MAX_SECONDS) * 1000 + stageLeaseMs;
    this.host.steps.markStarted(item);
  }

  /** The claimed attempt failed and the consumer tries again after the report's delay. */
  retry(item: WorkItem, report: StageRetry): void {
    const { events, now, stageLeaseMs } = this.host.options;
    item.state = "queued";
    item.leaseUntil = now() + report.delaySeconds * 1000 + stageLeaseMs;
    const state = this.host.steps.state(item.step);
    state.status = "queued";
    state.retried = (state.retried ?? 0) + 1;
    const data = { key: item.key, attempt: report.attempt, error: report.error, delay_s: report.delaySeconds, ms: report.ms };
    events.append({ type: "step_retrying", step: item.step, data }, now());
  }

  /** Sends the stages of the burst just persisted; a send the queue refuses goes again after a backoff. */
  persisted(): void {
    if (this.outbox.length === 0) return;
    const sent = this.outbox;
    this.outbox = [];
    const { options } = this.host;
    if (options.record.terminal) return;
    options.sendStages(sent.map((s) => s.plan)).then(
      () => sendsSucceeded(this.host, sent),
      (error: unknown) => {
        console.error(`edgeserve: the stage queue refused ${sent.length} stages of run ${options.record.row.id}; sending again later: ${String(error)}`);
        sendsFailed(this.host, sent, error);
      },
    );
  }
}
