/**
 * Remote steps are served by StateFun functions, one Durable Object per function address.
 * Dispatching builds the invocation and records it as handed over; it goes to its address once
 * the burst that recorded it is persisted. The address reports each batch back (`complete`). An
 * address that holds a call back, or cannot be reached, has it tried again later; one not heard
 * of before the lease passes is handed the invocation again (harmless: it knows the key). A run
 * that ends tells the addresses it handed invocations to (end-notices.ts).
 */
import type { RemoteStepDefinition } from "../../../src/pipeline/definition";
import { loadMessage } from "../../../src/pipeline/message";
import { fanoutProblem } from "../../../src/pipeline/step-output";
import { buildInvocation } from "../../../src/remote/invocation";
import { addressName, FUNCTION_ROW_MAX_BYTES, type RemoteInvocation, type RemoteReport } from "../../../src/remote/protocol";
import type { StageReportOutcome } from "../../../src/runs/stage-protocol";
import type { WorkItem } from "../run-record";
import { EndNotices, handedOverAddresses } from "./end-notices";
import { sendsFailed, sendsSucceeded } from "./failed-sends";
import type { DispatchHost, StepDispatcher } from "./step-dispatcher";

export class RemoteDispatcher implements StepDispatcher {
  readonly executing = 0;
  /** Invocations recorded as sent in this burst, handed over once the burst is persisted. */
  private invocations: { key: string; sends: number; invocation: RemoteInvocation }[] = [];
  private readonly endNotices: EndNotices;

  constructor(private readonly host: DispatchHost) {
    this.endNotices = new EndNotices(host);
  }

  /** Records the step's invocation as handed over; `persisted` hands it to its address. */
  dispatch(item: WorkItem): void {
    const { record, now, pipeline, env, stageLeaseMs } = this.host.options;
    const step = pipeline.step(item.step) as RemoteStepDefinition;
    const message = loadMessage(item.message);
    let invocation: RemoteInvocation;
    try {
      invocation = buildInvocation({
        step,
        endpoints: pipeline.definition.endpoints,
        message,
        key: item.key,
        runId: record.row.id,
        pipeline: pipeline.name,
        deadlineAt: record.row.deadlineAt,
        env,
      });
    } catch (error) {
      this.host.stepFailed(item, error instanceof Error ? error.message : String(error), null);
      return;
    }
    // The address keeps the waiting invocation as one row: one too large for it fails the step here.
    const rowBytes = invocation.argument.byteLength + addressName(invocation.address).length + (invocation.caller?.length ?? 0);
    if (rowBytes > FUNCTION_ROW_MAX_BYTES) {
      this.host.stepFailed(
        item,
        `its invocation of ${rowBytes} bytes is over the ${FUNCTION_ROW_MAX_BYTES} a function address keeps per waiting invocation`,
        null,
      );
      return;
    }
    item.state = "queued";
    item.sends += 1;
    item.leaseUntil = now() + invocation.call.timeouts.call + stageLeaseMs;
    if (item.attempt === 0) this.host.steps.markStarted(item, { address: addressName(invocation.address) });
    this.invocations.push({ key: item.key, sends: item.sends, invocation });
  }

  /** A handed-over item whose lease passed is handed over again; there is no cap. */
  watchdog(item: WorkItem): string | undefined {
    const { now } = this.host.options;
    if (item.state !== "pending" && item.leaseUntil !== null && item.leaseUntil <= now()) item.state = "pending";
    return undefined;
  }

  /** At its lease (handed over), or when it may go (held back). */
  nextCheckAt(item: WorkItem, watchdogAt: number): number {
    return item.leaseUntil ?? watchdogAt;
  }

  /** The run ends (its work is still listed): the addresses it handed invocations to are to be told. */
  abandon(): void {
    const { record, pipeline } = this.host.options;
    const addresses = handedOverAddresses(record, pipeline);
    if (addresses.length > 0) record.row.endNotices = addresses;
  }

  /** Tells the addresses still to be told that the run ended. */
  tellEnded(): void {
    this.endNotices.tell();
  }

  /** A function address reports a batch: its outputs, messages to other functions, or its failure. */
  complete(report: RemoteReport): StageReportOutcome {
    const { record, pipeline, now } = this.host.options;
    const answers = report.keys.map((key) => this.host.awaitedItem(key, "remote"));
    const items = answers.filter((a): a is WorkItem => typeof a !== "string");
    const first = items[0];
    if (!first) return { accepted: false, reason: answers.includes("run_ended") ? "run_ended" : "settled" };
    const failStep = (error: string): StageReportOutcome => {
      this.host.stepFailed(first, error, report.ms);
      this.host.flush();
      return { accepted: true };
    };
    if (!report.ok) return failStep(report.error);
    const tooMany = fanoutProblem(report.messages.length, this.host.options.maxFanout);
    if (tooMany) return failStep(tooMany);
    /** The keys of the run's delayed messages still waiting under a cancellation token. */
    const pendingUnder = (token: string) => [...record.work].filter(([, w]) => w.token === token && w.state === "pending").map(([key]) => key);
    // In the order the function made them: a cancellation removes a delayed message sent before it.
    for (const sent of report.messages) {
      if ("cancel" in sent) {
        for (const key of pendingUnder(sent.cancel)) record.work.delete(key);
        continue;
      }
      const target = pipeline.definition.steps.find((s) => s.kind === "remote" && s.function === sent.function);
      if (!target) return failStep(`function '${sent.function}' was sent a message, but no remote step of pipeline '${pipeline.name}' calls it`);
      // As StateFun: one pending delayed message per cancellation token.
      const token = sent.cancellationToken;
      if (token && pendingUnder(token).length > 0) {
        return failStep(`${report.caller} sent a delayed message with cancellation token '${token}', which a pending delayed message already has`);
      }
      const message = { ...loadMessage(sent.message), caller: report.caller };
      const held = { ...(sent.delayMs ? { notBefore: now() + sent.delayMs } : {}), ...(sent.cancellationToken ? { token: sent.cancellationToken } : {}) };
      this.host.enqueue(target.name, first.step, message, held);
    }
    // One request served the whole batch: its outputs are recorded on the batch's first invocation.
    for (const [i, item] of items.entries()) this.host.stepCompleted(item, i === 0 ? report.outputs.map(loadMessage) : [], report.ms, { batch: items.length });
    this.host.drive();
    return { accepted: true };
  }

  /** Hands the invocations of the burst just persisted to their addresses; once the run has ended, tells them. */
  persisted(): void {
    const { options } = this.host;
    if (options.record.terminal) {
      this.invocations = [];
      return this.tellEnded();
    }
    if (this.invocations.length === 0) return;
    const sent = this.invocations;
    this.invocations = [];
    options.sendInvocations(sent.map((s) => s.invocation)).then(
      (outcomes) => {
        const handed = sent.filter((_, i) => !(outcomes[i] instanceof Error));
        sendsSucceeded(this.host, handed);
        outcomes.forEach((outcome, i) => {
          const { key, sends } = sent[i]!;
          if (outcome instanceof Error) {
            console.error(`edgeserve: handing ${key} to its function address failed, will retry: ${outcome.message}`);
            sendsFailed(this.host, [{ key, sends }], outcome);
          } else if (!outcome.accepted) {
            this.deferred(key, sends, outcome.retryAfterMs);
          }
        });
      },
      (error: unknown) => console.error(`edgeserve: handing invocations over failed: ${String(error)}`),
    );
  }

  /** An address held a call back (its mailbox is full): try again when it says. */
  private deferred(key: string, sends: number, retryAfterMs: number): void {
    const { record, now } = this.host.options;
    const item = record.work.get(key);
    if (record.terminal || !item || item.state !== "queued" || item.sends !== sends) return;
    item.state = "pending";
    item.leaseUntil = now() + retryAfterMs;
    const state = this.host.steps.state(item.step);
    state.heldBack = (state.heldBack ?? 0) + 1;
    this.host.flush();
  }
}
