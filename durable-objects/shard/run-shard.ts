/**
 * RunShard, the journal host: a long-lived Durable Object that holds many runs of one pipeline,
 * each as rows under its own key prefix (run-store.ts), with one alarm for all of them
 * (due-times.ts). A run's shard is a hash of its id (src/engine/run-hosts.ts), so any surface
 * finds it with no lookup, and no run pays a new object's creation or name check.
 *
 * Every entrypoint names its run and hands off to that run's HostedRun, the same engine the
 * object host runs. Runs share the shard's one thread: an inline step that computes for long holds
 * up the other runs of its shard (README, "Run hosts").
 */
import { DurableObject } from "cloudflare:workers";
import type { BlockSlot } from "../../src/admission/protocol";
import { RUN_ID_HEADER, type StartRunRequest } from "../../src/runs/protocol";
import { loadSettings, type Settings } from "../../src/settings";
import { HostedRun } from "../run/hosted-run";
import type { RunEntrypoints } from "../run/run-entrypoints";
import { RunStore } from "../run/run-store";
import { attachmentOf, runSocketTag } from "../run/socket-watchers";
import { DueTimes } from "./due-times";

/** Runs kept in memory once they have ended; older idle ones are let go (they load again from storage). */
export const IDLE_RUNS_IN_MEMORY = 1000;

/** Faults that outlive a reset (tests): calls the next instance of a shard refuses as overloaded, by object id. */
const overloadCarriedOverReset = new Map<string, number>();

/** The key prefix of a run's rows: its id, encoded so that no id's prefix is another's. */
export const runKeyPrefix = (runId: string) => `r:${encodeURIComponent(runId)}/`;

export class RunShard extends DurableObject<Env> implements RunEntrypoints {
  private readonly settings: Settings;
  private readonly dueTimes: DueTimes;
  /** The runs in memory, least recently used first. */
  private readonly runs = new Map<string, HostedRun>();
  /** Calls in progress per run: a run in a call is never let go. */
  private readonly inCall = new Map<string, number>();
  /** Faults tests inject through `runInDurableObject`: the next calls are refused as an overloaded object refuses them. */
  readonly faults = { overloadedCalls: 0 };

  /** Test fault: the shard's next instance (after a reset) refuses its first `calls` calls as overloaded. */
  overloadAfterReset(calls: number): void {
    overloadCarriedOverReset.set(this.ctx.id.toString(), calls);
  }

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.settings = loadSettings(env);
    // A handler that never returns would hold its run's alarm for as long as the shard lives: the
    // shard restarts instead, and every run it held is handled again from storage.
    this.dueTimes = new DueTimes(ctx.storage, (runId, ms) => {
      console.error(`edgeserve shard: the alarm of run ${runId} has run for ${ms} ms; restarting the shard`);
      ctx.abort(`the alarm of run ${runId} ran for over ${ms} ms`);
    });
    this.faults.overloadedCalls = overloadCarriedOverReset.get(ctx.id.toString()) ?? 0;
    overloadCarriedOverReset.delete(ctx.id.toString());
    void ctx.blockConcurrencyWhile(() => this.dueTimes.restore());
  }

  /** The run of that id, in memory or loaded on first use; public for tests (through `runInDurableObject`). */
  hostedRun(runId: string): HostedRun {
    if (this.faults.overloadedCalls > 0) {
      this.faults.overloadedCalls -= 1;
      throw Object.assign(new Error("injected fault: Durable Object is overloaded"), { overloaded: true });
    }
    const held = this.runs.get(runId);
    if (held) {
      this.runs.delete(runId);
      this.runs.set(runId, held);
      return held;
    }
    const store = new RunStore(
      this.ctx.storage,
      (error) => {
        // Memory holds a burst that storage refused: every run of the shard starts again from storage.
        this.ctx.abort(`run storage write failed: ${error instanceof Error ? error.message : String(error)}`);
        throw error;
      },
      { prefix: runKeyPrefix(runId), alarm: this.dueTimes.alarmOf(runId) },
    );
    const run = new HostedRun({ ctx: this.ctx, env: this.env, settings: this.settings, store, legacyTables: false, socketTag: runSocketTag(runId) });
    this.runs.set(runId, run);
    this.letGoOfIdleRuns(runId);
    return run;
  }

  start(runId: string, request: StartRunRequest) {
    return this.hostedRun(runId).start(request);
  }

  startAndWait(runId: string, request: StartRunRequest, timeoutMs: number) {
    return this.during(runId, (run) => run.startAndWait(request, timeoutMs));
  }

  admit(runId: string, slot: BlockSlot) {
    return this.hostedRun(runId).admit(slot);
  }

  wait(runId: string, timeoutMs: number) {
    return this.during(runId, (run) => run.wait(timeoutMs));
  }

  describe(runId: string) {
    return this.during(runId, (run) => run.describe());
  }

  probe(runId: string) {
    return this.hostedRun(runId).probe();
  }

  messagePath(runId: string) {
    return this.hostedRun(runId).messagePath();
  }

  cancel(runId: string, reason?: string) {
    return this.during(runId, (run) => run.cancel(reason));
  }

  claimStage(runId: string, claim: unknown) {
    return this.hostedRun(runId).claimStage(claim);
  }

  completeStage(runId: string, report: unknown) {
    return this.hostedRun(runId).completeStage(report);
  }

  retryStage(runId: string, report: unknown) {
    return this.hostedRun(runId).retryStage(report);
  }

  failStage(runId: string, report: unknown) {
    return this.hostedRun(runId).failStage(report);
  }

  completeRemote(runId: string, report: unknown) {
    return this.hostedRun(runId).completeRemote(report);
  }

  indexUndelivered(runId: string, createdAt: number) {
    return this.hostedRun(runId).indexUndelivered(createdAt);
  }

  indexDeleteUndelivered(runId: string, key: unknown) {
    this.hostedRun(runId).indexDeleteUndelivered(key);
  }

  /** Development only (`npm run chaos`): resets the whole shard, every run it holds. */
  chaosReset(runId: string) {
    this.hostedRun(runId).chaosReset();
  }

  /** `/events` and `/ws` name their run in a header. */
  override fetch(request: Request): Promise<Response> {
    const runId = request.headers.get(RUN_ID_HEADER);
    if (!runId) return Promise.resolve(Response.json({ code: "bad_request" }, { status: 400 }));
    return this.during(runId, (run) => run.fetch(request));
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const runId = attachmentOf(socket)?.runId;
    if (runId) await this.during(runId, (run) => run.webSocketMessage(socket, message));
  }

  override webSocketClose(socket: WebSocket, code: number, reason: string): void {
    const runId = attachmentOf(socket)?.runId;
    if (runId) this.hostedRun(runId).webSocketClose(socket, code, reason);
  }

  override alarm(): Promise<void> {
    return this.dueTimes.fire((runId) => this.during(runId, (run) => run.alarm()));
  }

  /** How many runs this instance holds in memory (tests). */
  get runsInMemory(): number {
    return this.runs.size;
  }

  /** Whether the shard holds the run in memory (tests). */
  holdsInMemory(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** Whether the shard keeps the run's due time in memory (tests). */
  knowsDueTimeOf(runId: string): boolean {
    return this.dueTimes.knows(runId);
  }

  /** When the run's alarm is due (undefined: not set); for tests, as `getAlarm` is for a Run object. */
  runAlarmAt(runId: string): number | undefined {
    return this.dueTimes.dueAt(runId);
  }

  /** Test fault: a run's alarm handler may run `ms` (15 minutes otherwise) before the shard restarts. */
  limitAlarmHandlerTime(ms: number): void {
    this.dueTimes.handlerLimitMs = ms;
  }

  /** Test fault: at most `handlers` runs' alarms are handled at once (200 otherwise). */
  limitAlarmHandlers(handlers: number): void {
    this.dueTimes.batch = handlers;
  }

  /** Sets the run's alarm as its own store sets it (tests: to make it due now). */
  setRunAlarm(runId: string, at: number): void {
    this.dueTimes.alarmOf(runId).set(at, {});
  }

  /** Handles the run's alarm now (tests: as `runDurableObjectAlarm` does for a Run object); false when it had none. */
  fireRunAlarm(runId: string): Promise<boolean> {
    return this.dueTimes.fireNow(runId, (id) => this.during(id, (run) => run.alarm()));
  }

  /** Runs an awaited call of a run, which stays in memory meanwhile. */
  private async during<T>(runId: string, call: (run: HostedRun) => Promise<T>): Promise<T> {
    this.inCall.set(runId, (this.inCall.get(runId) ?? 0) + 1);
    try {
      return await call(this.hostedRun(runId));
    } finally {
      const left = (this.inCall.get(runId) ?? 1) - 1;
      if (left === 0) this.inCall.delete(runId);
      else this.inCall.set(runId, left);
    }
  }

  /** Lets go of the least recently used runs that nothing in memory depends on. */
  private letGoOfIdleRuns(keep: string): void {
    if (this.runs.size <= IDLE_RUNS_IN_MEMORY) return;
    for (const [runId, run] of this.runs) {
      if (this.runs.size <= IDLE_RUNS_IN_MEMORY) return;
      if (runId !== keep && run.idle && !this.inCall.has(runId)) {
        this.runs.delete(runId);
        // Else the due times of every run the instance ever held would pile up in memory.
        this.dueTimes.forget(runId);
      }
    }
  }
}
