/**
 * HostedRun: one run as a host holds it — the engine behind every entrypoint of a run. The object
 * host (run-object.ts) holds one per Durable Object; a journal shard (durable-objects/shard/)
 * holds one per run it hosts, each over storage scoped to its run (run-store.ts). Each method
 * hands off to the run's session (run-session.ts) and its collaborators: the orchestrator
 * (progress), projections (views), retention, the indexer and the stream subscribers.
 */
import { isWaiting, type BlockSlot } from "../../src/admission/protocol";
import { chaosEnabled } from "../../src/chaos";
import { loadMessage } from "../../src/pipeline/message";
import { remoteReportSchema } from "../../src/remote/protocol";
import type { CancelOutcome, MessagePath, RunPresence, StartAndWaitOutcome, StartRunOutcome, StartRunRequest, WaitOutcome } from "../../src/runs/protocol";
import {
  stageClaimSchema,
  stageCompletionSchema,
  stageFailureReportSchema,
  stageRetrySchema,
  type StageClaimOutcome,
  type StageReportOutcome,
} from "../../src/runs/stage-protocol";
import type { Settings } from "../../src/settings";
import { parseLastEventId } from "../../src/sse/frame";
import { socketProtocolOf, streamFormat } from "../../src/streams/format";
import { AlarmPlan } from "./alarm-plan";
import type { Orchestrator } from "./orchestrator";
import { describedSnapshotOf, messageEdgesOf, snapshotOf, streamContextOf } from "./projections";
import { Retention } from "./retention";
import { importSqlRun } from "./legacy/import-sql-run";
import { runIndexKeySchema, sendRunEvents } from "../../src/engine/run-index";
import { RunIndexer } from "./run-indexer";
import { RunRecord } from "./run-record";
import { RunSession, type InjectedFaults, type SessionDeps } from "./run-session";
import { duplicateStart, newRunRecord } from "./run-start";
import type { RunStore } from "./run-store";
import { publishToSockets, SocketStarts } from "./socket-watchers";
import { Subscribers } from "./subscribers";

/** What a host gives each run it holds. */
export interface HostedRunDeps {
  ctx: DurableObjectState;
  env: Env;
  settings: Settings;
  store: RunStore;
  /** Whether tables of an earlier deploy may hold the run (the object host only). */
  legacyTables: boolean;
  /** The tag of the WebSockets the run answers for (socket-watchers.ts): the object's, or the run's in a shard. */
  socketTag: string;
}

export class HostedRun {
  /** Public for tests' fault injection (`failNextWrite`, through `runInDurableObject`). */
  readonly store: RunStore;
  /** Faults tests inject through `runInDurableObject`. */
  readonly faults: InjectedFaults = { refuseStageSendsUntil: 0, refuseIndexSendsUntil: 0, resetAfterNextStart: false };
  /** How many times this instance's alarm handler has started (tests: a run is never handled twice at once). */
  alarmsStarted = 0;
  private readonly alarmPlan: AlarmPlan;
  private readonly retention: Retention;
  private readonly indexer: RunIndexer;
  private readonly subscribers: Subscribers;
  private readonly sockets: SocketStarts;
  private session: RunSession | undefined;
  private inBackground = 0;

  constructor(private readonly deps: HostedRunDeps) {
    const { ctx, env, settings } = deps;
    this.store = deps.store;
    this.alarmPlan = new AlarmPlan(this.store);
    this.retention = new Retention({ store: this.store, alarm: this.alarmPlan, env });
    this.indexer = new RunIndexer({
      send: async (message) => {
        if (this.faults.holdIndexSends) await this.faults.holdIndexSends;
        return Date.now() < this.faults.refuseIndexSendsUntil ? false : sendRunEvents(env.INDEX_QUEUE, message);
      },
      store: this.store,
      alarm: this.alarmPlan,
      waitUntil: (p) => this.background(p),
    });
    this.sockets = new SocketStarts({
      ctx,
      settings,
      indexer: this.indexer,
      start: (request) => this.startRun(request, false),
      alarmNoLaterThan: (at) => this.alarmPlan.noLaterThan(at),
      socketTag: deps.socketTag,
    });
    this.subscribers = new Subscribers(settings.EDGESERVE_SSE_HEARTBEAT_SECONDS * 1000, settings.EDGESERVE_MAX_SUBSCRIBERS, () =>
      this.session ? streamContextOf(this.session) : undefined,
    );
  }

  /**
   * Nothing in memory depends on this run: its host may let go of it (it loads again from storage).
   * Background work still going (a send, results moving, a cancelled step not yet returned) may
   * write the run again, and only this instance's memory matches what it writes.
   */
  get idle(): boolean {
    const settled = this.session === undefined || (this.session.record.terminal && !this.session.orchestrator.unsettled);
    return settled && this.subscribers.size === 0 && this.inBackground === 0;
  }

  /** Background work of this run, kept alive by the object and counted while it goes on. */
  private background(promise: Promise<unknown>): void {
    this.inBackground += 1;
    const done = () => {
      this.inBackground -= 1;
    };
    this.deps.ctx.waitUntil(promise.then(done, done));
  }

  /** Starts the run unless this id is already taken (then nothing changes). */
  start(request: StartRunRequest): StartRunOutcome | Promise<StartRunOutcome> {
    const outcome = this.startRun(request, false);
    return outcome.started && this.takeResetFault() ? this.resetOnceDurable() : outcome;
  }

  /** Starts the run and waits up to `timeoutMs` for it to end: the sync path in one round trip. */
  async startAndWait(request: StartRunRequest, timeoutMs: number): Promise<StartAndWaitOutcome> {
    const outcome = this.startRun(request, true);
    if (outcome.started && this.takeResetFault()) await this.resetOnceDurable();
    const session = this.session;
    if (!outcome.started) return outcome;
    if (!session) throw new Error("a run vanished while it was being started");
    if (this.faults.cutNextStartAnswer) {
      this.faults.cutNextStartAnswer = false;
      this.deps.ctx.waitUntil(session.waitAsStarter(timeoutMs));
      throw Object.assign(new Error("injected fault: the answer was lost on its way"), { retryable: true });
    }
    const { slotReturned, indexRow } = await session.waitAsStarter(timeoutMs);
    const snapshot = await snapshotOf(session);
    session.results.releaseHeld();
    return indexRow ? { started: true, snapshot, slotReturned, indexRow } : { started: true, snapshot, slotReturned };
  }

  private startRun(request: StartRunRequest, starterWaits: boolean): StartRunOutcome {
    // Not looking for a run stored in tables by an earlier deploy: that check would cost every new
    // run a schema query (README, "Upgrading"); every other entrypoint converts such a run.
    const existing = this.load({ skipTables: true });
    if (existing) return duplicateStart(existing, request, this.indexer);
    this.retention.clearTombstone();
    const record = newRunRecord(request, this.deps.settings, Date.now());
    // A caller queued for a slot (a waiting ticket) does not hold the one its shard gives the run.
    const starterHoldsSlot = request.admission !== undefined && !isWaiting(request.admission);
    const session = (this.session = RunSession.create(record, this.sessionDeps(), { starterWaits, starterHoldsSlot }));
    if (request.admission && "waiting" in request.admission) {
      // Queued by admission control: stored as `pending` until its shard calls `admit`.
      record.row.status = "pending";
      session.orchestrator.drive();
    } else {
      session.orchestrator.begin(loadMessage(request.input));
    }
    this.indexer.active(record, session.capture, session.results);
    return { started: true };
  }

  private takeResetFault(): boolean {
    const set = this.faults.resetAfterNextStart;
    this.faults.resetAfterNextStart = false;
    return set;
  }

  /** The `resetAfterNextStart` fault: once the start's writes are durable, the object resets and its answer is lost. */
  private async resetOnceDurable(): Promise<never> {
    await this.deps.ctx.storage.sync();
    this.deps.ctx.abort("injected fault: reset after the run was stored");
    throw new Error("the object was reset");
  }

  /** A queued run's shard gives it a slot; false if the run ended while it waited. */
  admit(slot: BlockSlot): boolean {
    const session = this.load();
    if (!session) return false;
    const held = session.record.row.admission;
    // A retried call (the first answer was lost) finds the run admitted with this very slot.
    if (session.record.row.status !== "pending") return held !== null && "block" in held && held.block === slot.block;
    session.record.row.admission = slot;
    session.orchestrator.begin(loadMessage(session.record.row.input));
    this.indexer.active(session.record, session.capture, session.results);
    return true;
  }

  /** Waits up to `timeoutMs` for the run to end, then describes it as it stands. */
  async wait(timeoutMs: number): Promise<WaitOutcome> {
    const session = this.load();
    if (!session) return this.retention.missing();
    await session.waitForEnd(timeoutMs);
    return { found: true, snapshot: await snapshotOf(session) };
  }

  /** The run as it stands, with its results once it has completed and what capture kept of each step. */
  async describe(): Promise<WaitOutcome> {
    const session = this.load();
    return session ? { found: true, snapshot: await describedSnapshotOf(session) } : this.retention.missing();
  }

  /** Whether the run is here (and its deadline), without reading it. */
  probe(): RunPresence {
    const session = this.load();
    if (!session) return this.retention.missing();
    const { deadlineAt, sseStart } = session.record.row;
    return sseStart ? { found: true, deadlineAt, sseStart } : { found: true, deadlineAt };
  }

  /** Numaflow's message path: the edges each message travelled, with callback times. */
  messagePath(): MessagePath {
    const session = this.load();
    if (!session) return this.retention.missing();
    return { found: true, status: session.record.row.status, edges: messageEdgesOf(session) };
  }

  async cancel(reason: string | undefined): Promise<CancelOutcome> {
    const session = this.load();
    if (!session) return this.retention.missing();
    const cancelled = session.orchestrator.cancel(reason);
    return { found: true, cancelled, snapshot: await snapshotOf(session) };
  }

  /** The stage consumer asks to run a queued step (see src/runs/stage-protocol.ts). */
  claimStage(claim: unknown): StageClaimOutcome {
    const { key } = stageClaimSchema.parse(claim);
    const session = this.load();
    return session ? session.orchestrator.claimStage(key) : { proceed: false, reason: "unknown_run" };
  }

  /** The stage consumer reports a queued step's outputs. */
  completeStage(report: unknown): StageReportOutcome {
    return this.report(stageCompletionSchema.parse(report), (o, r) => o.completeStage(r));
  }

  /** The stage consumer reports a failed attempt that it will try again. */
  retryStage(report: unknown): StageReportOutcome {
    return this.report(stageRetrySchema.parse(report), (o, r) => o.retryStage(r));
  }

  /** The dead-letter consumer reports a queued step whose retries are used up. */
  failStage(report: unknown): StageReportOutcome {
    return this.report(stageFailureReportSchema.parse(report), (o, r) => o.failStage(r));
  }

  /** A function address reports a batch's outcome (see src/remote/protocol.ts). */
  completeRemote(report: unknown): StageReportOutcome {
    return this.report(remoteReportSchema.parse(report), (o, r) => o.completeRemote(r));
  }

  /**
   * The run-events dead-letter consumer: a message with this run's index row used up its queue
   * retries unwritten. The alarm sends the row again; false when the run is not here (expired, or
   * the id now holds a run created at another time), so there is nothing to index.
   */
  indexUndelivered(createdAt: number): boolean {
    const session = this.load();
    if (!session || session.record.row.createdAt !== createdAt) return false;
    this.indexer.resendLater(session.record);
    return true;
  }

  /** The dead-letter consumer hands back the deletion of an expired run's index row: the alarm keeps trying it. */
  indexDeleteUndelivered(key: unknown): void {
    this.retention.forgetLater(runIndexKeySchema.parse(key));
  }

  /** Development only (`npm run chaos`): resets this object as a crash would; refused unless chaos is on. */
  chaosReset(): void {
    if (!chaosEnabled(this.deps.env)) throw new Error("chaos is off");
    this.deps.ctx.abort("chaos: the run's object reset on request");
  }

  /** `GET /events?format=<surface>` with `Last-Event-ID` or `?after=`, or `/ws`: the run's streams. */
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/ws") return this.sockets.accept(request);
    const session = this.load();
    if (!session) return Response.json(this.retention.missing(), { status: 404 });
    const format = streamFormat(url.searchParams.get("format") ?? "native");
    if (!format) return Response.json({ code: "bad_request" }, { status: 400 });
    const after = parseLastEventId(request.headers.get("last-event-id") ?? url.searchParams.get("after"));
    // A finished run's results may be in KV or R2: read them first, so the replay below stays synchronous.
    if (session.record.terminal) await session.results.prefetch();
    // From the event last seen (inclusive): it may have frames the client has not seen yet.
    const response = this.subscribers.open(format, session.events.replay(after === undefined ? 0 : after.seq - 1), {
      finished: session.record.terminal,
      after,
    });
    return response ?? new Response(null, { status: 204 });
  }

  /** The client's request frame starts the run; later frames are ignored. */
  webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.sockets.message(socket, message);
  }

  webSocketClose(socket: WebSocket, code: number, reason: string): void {
    this.sockets.close(socket, code, reason);
  }

  /** The watchdog: retention for finished runs, deadline and re-drive for running ones. */
  async alarm(): Promise<void> {
    this.alarmsStarted += 1;
    if (this.faults.holdAlarm) await this.faults.holdAlarm;
    this.alarmPlan.fired();
    this.sockets.closeIdle(Date.now());
    const session = this.load({ fromAlarm: true });
    if (!session) return this.retention.tombstoneAlarm();
    // An older run of this id may have left its index row's deletion to this object (forgetLater).
    await this.retention.retryPendingForget();
    await this.indexer.retryIfPending(session.record, session.capture, session.results);
    if (!session.record.terminal) return session.orchestrator.watchdog();
    if ((await this.retention.alarm(session.record, session.results)) === "deleted") {
      this.session = undefined;
      return;
    }
    session.orchestrator.retryEndNotices();
  }

  /** Hands a validated report to this run's orchestrator; a report for no run here is refused. */
  private report<T>(parsed: T, apply: (orchestrator: Orchestrator, report: T) => StageReportOutcome): StageReportOutcome {
    const session = this.load();
    return session ? apply(session.orchestrator, parsed) : { accepted: false, reason: "unknown_run" };
  }

  /** The run this object holds, loaded once per instance; undefined when there is none. */
  private load(options: { fromAlarm?: boolean; skipTables?: boolean } = {}): RunSession | undefined {
    if (this.session) return this.session;
    const imported = () => this.deps.legacyTables && !options.skipTables && importSqlRun(this.deps.ctx.storage, this.store);
    const record = RunRecord.load(this.store) ?? (imported() ? RunRecord.load(this.store) : undefined);
    if (!record) return undefined;
    // The retention alarm is set without confirmation; an instance that loads a finished run makes sure it exists.
    if (!options.fromAlarm && record.terminal && record.row.expiresAt !== null) void this.alarmPlan.ensure(record.row.expiresAt);
    this.session = RunSession.load(record, this.sessionDeps());
    return this.session;
  }

  private sessionDeps(): SessionDeps {
    return {
      waitUntil: (p) => this.background(p),
      env: this.deps.env,
      settings: this.deps.settings,
      store: this.store,
      alarm: this.alarmPlan,
      indexer: this.indexer,
      retention: this.retention,
      faults: this.faults,
      publish: (event, session) => {
        this.subscribers.publish(event);
        // Only runs started from a socket have watchers; other runs skip the lookup.
        if (session.record.row.surface === "zenml")
          publishToSockets(this.deps.ctx, session.record.row.id, socketProtocolOf(), event, () => streamContextOf(session));
      },
    };
  }
}
