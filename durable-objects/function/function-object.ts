/**
 * FunctionObject: one Durable Object per StateFun address (`namespace/type/id`), named so. It owns
 * the address's state and sends its invocations to the remote function as StateFun's runtime does:
 * one request in flight at a time, invocations that arrive meanwhile batched into the next request
 * (FIFO), the state pushed with every request and the missing-state handshake answered. Each
 * batch's outcome goes to the outbox in the same transaction as its state changes, and from there
 * to its run (retried by the alarm until the run has it). Invocations of runs that have ended
 * (the run said so, or its deadline passed) are dropped without a call. While the endpoint is down,
 * a waiting invocation whose run's deadline is near fails with the endpoint's last error (outages.ts).
 */
import { DurableObject } from "cloudflare:workers";
import { create } from "@bufbuild/protobuf";
import { RunClient } from "../../src/engine/run-client";
import { loadSettings } from "../../src/settings";
import {
  TypedValueSchema,
  FromFunction_PersistedValueMutation_MutationType as MutationType,
  type FromFunction,
  type FromFunction_InvocationResponse,
} from "../../src/remote/proto/io/statefun/request_reply_pb";
import { callFunction, RemoteCallError } from "../../src/remote/transport";
import {
  FUNCTION_ROW_MAX_BYTES,
  remoteInvocationSchema,
  runEndedSchema,
  type EnqueueOutcome,
  type FunctionAddress,
  type RemoteReport,
} from "../../src/remote/protocol";
import { batchReport, batchRequest } from "./batch-exchange";
import { FunctionStore, type MailboxEntry } from "./function-store";
import { callNotAfter, Outages } from "./outages";

/** Handshakes (missing state registered, batch sent again) allowed per batch before it fails. */
const MAX_HANDSHAKES = 3;
/** How long a caller held back by a full mailbox waits before it asks again. */
const BACKPRESSURE_RETRY_MS = 250;

export class FunctionObject extends DurableObject<Env> {
  private readonly store: FunctionStore;
  private pumping = false;
  /** The mailbox entries of the batch being sent (`seq`s): a run that ends meanwhile cannot recall them. */
  private inFlight: ReadonlySet<number> = new Set();
  private readonly outages = new Outages();
  /** Fails waiting invocations whose report is due while their endpoint is down. */
  private sweepTimer: { at: number; timer: ReturnType<typeof setTimeout> } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new FunctionStore(ctx.storage.sql);
  }

  /** Takes an invocation for this address, or holds the caller back when the mailbox is full. */
  enqueue(input: unknown): EnqueueOutcome {
    const invocation = remoteInvocationSchema.parse(input);
    const now = Date.now();
    // A second hand-over (the reply to the first was lost): waiting, or already applied.
    if (this.store.knows(invocation.key, now)) return { accepted: true };
    // Its run has ended: there is nobody to answer (an invocation still on its way when the run ended).
    if (invocation.deadlineAt <= now || this.store.hasEnded(invocation.runId, now)) {
      console.log(`edgeserve functions: ${invocation.key} not taken: its run has ended`);
      return { accepted: true };
    }
    // As StateFun counts its buffer: the invocations waiting, not the batch being sent.
    const queued = this.store.queued() - this.inFlight.size;
    if (queued >= this.mailboxCap(invocation.call.maxNumBatchRequests)) return { accepted: false, retryAfterMs: BACKPRESSURE_RETRY_MS, queued };
    this.store.enqueue(invocation);
    void this.ctx.storage.setAlarm(Date.now() + this.watchdogMs());
    this.ctx.waitUntil(this.pump());
    if (this.outages.any) this.armSweep();
    return { accepted: true };
  }

  /** A run ended: its invocations waiting here go without a call, and those still on their way will not be taken. */
  runEnded(input: unknown): { dropped: number } {
    const { runId, deadlineAt } = runEndedSchema.parse(input);
    const now = Date.now();
    const dropped = this.ctx.storage.transactionSync(() => {
      this.store.runEnded(runId, deadlineAt, now);
      return this.store.dropEnded(now, this.inFlight);
    });
    logDropped(dropped);
    return { dropped: dropped.length };
  }

  /** The watchdog: picks up batches an eviction interrupted and outcomes not yet delivered. */
  override async alarm(): Promise<void> {
    await this.pump();
  }

  /** The endpoint's `maxNumBatchRequests`, within the deployment's ceiling (which also bounds "no cap", ≤ 0). */
  private mailboxCap(maxNumBatchRequests: number): number {
    const ceiling = loadSettings(this.env).EDGESERVE_MAX_MAILBOX;
    return maxNumBatchRequests > 0 ? Math.min(maxNumBatchRequests, ceiling) : ceiling;
  }

  private watchdogMs(): number {
    return loadSettings(this.env).EDGESERVE_WATCHDOG_SECONDS * 1000;
  }

  /** Sends batches one at a time until the mailbox is empty, then delivers outcomes. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let batch = this.nextBatch(); batch.length > 0; batch = this.nextBatch()) {
        this.inFlight = new Set(batch.map((e) => e.seq));
        try {
          await this.process(batch);
        } finally {
          this.inFlight = new Set();
        }
        await this.deliver();
      }
      await this.deliver();
    } finally {
      this.pumping = false;
    }
    if (this.store.queued() > 0 || this.store.outbox().length > 0) {
      await this.ctx.storage.setAlarm(Date.now() + this.watchdogMs());
    }
  }

  /** The next batch, once the invocations of runs that have ended are gone and those due at a down endpoint have failed. */
  private nextBatch(): MailboxEntry[] {
    logDropped(this.ctx.storage.transactionSync(() => this.store.dropEnded(Date.now())));
    this.sweep();
    return this.store.nextBatch();
  }

  /** Fails the waiting invocations whose report is due while their endpoint is down, one outcome per run and step. */
  private sweep(): boolean {
    if (!this.outages.any) return false;
    const now = Date.now();
    const due = this.outages.due(this.store.waiting(), now, this.inFlight);
    if (due.length === 0) return false;
    const groups = new Map<string, MailboxEntry[]>();
    for (const entry of due) {
      const group = `${entry.runId}\n${entry.step}`;
      groups.set(group, [...(groups.get(group) ?? []), entry]);
    }
    this.ctx.storage.transactionSync(() => {
      for (const batch of groups.values()) {
        const report: RemoteReport = { ok: false, keys: batch.map((e) => e.key), error: this.outages.failure(batch[0]!), ms: 0 };
        this.store.settle(batch, report, now);
      }
    });
    return true;
  }

  /** Sets the sweep's timer for the next waiting invocation that becomes due at a down endpoint. */
  private armSweep(): void {
    const at = this.outages.nextDueAt(this.store.waiting(), this.inFlight);
    if (at === undefined || (this.sweepTimer && this.sweepTimer.at <= at)) return;
    if (this.sweepTimer) clearTimeout(this.sweepTimer.timer);
    const timer = setTimeout(
      () => {
        this.sweepTimer = undefined;
        if (this.sweep()) this.ctx.waitUntil(this.deliver());
        this.armSweep();
      },
      Math.max(0, at - Date.now()),
    );
    this.sweepTimer = { at, timer };
  }

  private async process(batch: MailboxEntry[]): Promise<void> {
    const first = batch[0]!;
    const address = first.address;
    const started = Date.now();
    const fail = (error: string) => this.settle(batch, { ok: false, keys: batch.map((e) => e.key), error, ms: Date.now() - started });
    for (let handshake = 0; ; handshake++) {
      const request = batchRequest(address, this.store.values(Date.now()), batch);
      let response: FromFunction;
      try {
        response = await callFunction(request, first.call, {
          notAfter: callNotAfter(batch, Date.now()),
          onAttemptFailed: (cause, retryable) => {
            if (!retryable) return this.outages.answered(first.call.url);
            this.outages.failed(first.call.url, cause);
            this.armSweep();
          },
        });
        this.outages.answered(first.call.url);
      } catch (error) {
        const cause = error instanceof RemoteCallError ? error.message : String(error);
        return fail(`remote function ${address.namespace}/${address.type} at ${first.call.url} failed: ${cause}`);
      }
      const result = response.response;
      if (result.case === "incompleteInvocationContext") {
        const conflict = this.store.register(
          result.value.missingValues.map((spec) => ({
            name: spec.stateName,
            typename: spec.typeTypename,
            expireMode: spec.expirationSpec?.mode ?? 0,
            expireAfterMs: Number(spec.expirationSpec?.expireAfterMillis ?? 0n),
          })),
        );
        if (conflict) return fail(`remote function ${address.namespace}/${address.type}: ${conflict}`);
        if (handshake + 1 >= MAX_HANDSHAKES) {
          return fail(`remote function ${address.namespace}/${address.type} still reported missing state after ${MAX_HANDSHAKES} handshakes`);
        }
        continue;
      }
      // An answer with neither field is an empty result ("no side effects"), as StateFun reads it.
      const outcome = result.case === "invocationResult" ? result.value : undefined;
      return this.apply(batch, address, outcome, started);
    }
  }

  /** Applies a batch's result: its report (messages, delayed messages, egress) and its state changes, atomically. */
  private apply(batch: MailboxEntry[], address: FunctionAddress, result: FromFunction_InvocationResponse | undefined, started: number): void {
    const keys = batch.map((e) => e.key);
    const label = `remote function ${address.namespace}/${address.type}`;
    let report = batchReport(batch, address, result, started);
    const now = Date.now();
    const mutations = (result?.stateMutations ?? []).map((mutation) => ({
      name: mutation.stateName,
      bytes: mutation.stateValue?.value.byteLength ?? 0,
      value: mutation.mutationType === MutationType.DELETE ? undefined : (mutation.stateValue ?? create(TypedValueSchema, { typename: "", hasValue: false })),
    }));
    this.ctx.storage.transactionSync(() => {
      if (report.ok) {
        // Every change is checked before any is made: a batch that fails changes no state (as StateFun fails the whole task).
        const problem = mutations
          .map(({ name, bytes, value }) =>
            bytes > FUNCTION_ROW_MAX_BYTES
              ? `state '${name}' was given ${bytes} bytes, over the ${FUNCTION_ROW_MAX_BYTES} a function address keeps per value`
              : this.store.mutationProblem(name, value),
          )
          .find((found) => found !== undefined);
        if (problem) {
          report = { ok: false, keys, error: `${label}: ${problem}`, ms: report.ms };
        } else {
          this.store.touch(now);
          for (const { name, value } of mutations) this.store.mutate(name, value, now);
        }
      }
      this.store.settle(batch, report, now);
    });
  }

  private settle(batch: MailboxEntry[], report: RemoteReport): void {
    this.ctx.storage.transactionSync(() => this.store.settle(batch, report, Date.now()));
  }

  /** Hands each waiting outcome to its run; one that cannot be delivered now stays for the alarm. */
  private async deliver(): Promise<void> {
    for (const entry of this.store.outbox()) {
      try {
        const outcome = await new RunClient(this.env, entry.pipeline, entry.runId).completeRemote(entry.report);
        if (!outcome.accepted) console.log(`edgeserve functions: outcome for ${entry.key} not needed (${outcome.reason})`);
        this.store.delivered(entry.key);
      } catch (error) {
        console.error(`edgeserve functions: delivering the outcome for ${entry.key} failed, will retry: ${String(error)}`);
      }
    }
  }
}

function logDropped(keys: readonly string[]): void {
  if (keys.length > 0) console.log(`edgeserve functions: dropped ${keys.length} invocations of runs that have ended, uncalled: ${keys.join(", ")}`);
}
