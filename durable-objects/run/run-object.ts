/**
 * RunObject: one Durable Object per run, addressed by `<pipeline>:<run id>`. A thin class: it
 * loads the run once per instance and hands each entrypoint to its collaborators (orchestrator,
 * event log, result store, subscribers). Its SQLite storage is the source of truth for the run.
 */
import { DurableObject } from "cloudflare:workers";
import { findPipeline } from "../../src/catalog";
import type { Pipeline } from "../../src/pipeline/graph";
import { loadMessage, type JsonValue, type StoredMessage } from "../../src/pipeline/message";
import type {
  CancelOutcome,
  CapturedStep,
  EdgeCallback,
  MessagePath,
  RunMissing,
  RunSnapshot,
  StartAndWaitOutcome,
  StartRunOutcome,
  StartRunRequest,
  WaitOutcome,
} from "../../src/runs/protocol";
import { ApiError } from "../../src/errors/api-error";
import { validatePipelineInput } from "../../src/http/pipeline-input";
import { loadSettings, type Settings } from "../../src/settings";
import { release } from "../../src/admission/admission";
import type { AdmissionTicket } from "../../src/admission/protocol";
import { captureRequest } from "../../src/capture/capture-request";
import { captureOverride, pipelineRequestSchema } from "../../src/surfaces/zenml/schemas";
import { parseLastEventId } from "../../src/sse/frame";
import { STREAM_FORMATS, type StreamContext, type StreamFormatName } from "../../src/sse/formats";
import { resultsAsJson } from "../../src/runs/result-json";
import { runTimeoutSeconds } from "../../src/runs/run-timeout";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import {
  stageClaimSchema,
  stageCompletionSchema,
  stageFailureReportSchema,
  stageRetrySchema,
  type StageClaimOutcome,
  type StageReportOutcome,
} from "../../src/runs/stage-protocol";
import { deleteRunPayloads, sendStages } from "../../src/queues/stage-transport";
import { chaosEnabled } from "../../src/chaos";
import { remoteReportSchema } from "../../src/remote/protocol";
import { enqueueInvocation } from "../../src/remote/function-client";
import { EventLog } from "./event-log";
import { Orchestrator } from "./orchestrator";
import { SqliteResultStore } from "./result-store";
import { RunResults } from "./run-results";
import { KvResultStore, R2ResultStore } from "../../src/results/result-store";
import { preview } from "../../src/capture/policy";
import { deleteRunIndex, INDEX_PREVIEW_MAX_BYTES, INDEX_RETRY_DELAY_MS, writeRunIndex, type IndexPreviews } from "./run-index";
import { RunCapturePolicy } from "./run-capture";
import { RunRecord } from "./run-record";
import { createSchema, hasSchema, migrate } from "./schema";
import { Sql } from "./sql";
import { attachmentOf, failSocket, publishToSockets, ZENML_SOCKET_TAG, type SocketAttachment } from "./socket-watchers";
import { Subscribers } from "./subscribers";

/** What is left of a run whose retention ended: when it was deleted. */
interface Tombstone {
  at: number;
}
const TOMBSTONE_KEY = "expired";
/** How soon a failed move of results to KV or R2 is tried again. */
const RESULTS_MOVE_RETRY_MS = 30_000;
/** How long an expired run's id answers `run_expired` rather than `run_not_found`. */
const TOMBSTONE_MS = 7 * 86_400_000;

interface LoadedRun {
  pipeline: Pipeline;
  orchestrator: Orchestrator;
  capture: RunCapturePolicy;
  events: EventLog;
  results: RunResults;
}

export class RunObject extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly settings: Settings;
  private readonly subscribers: Subscribers;
  private loaded: LoadedRun | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage.sql);
    this.settings = loadSettings(env);
    this.subscribers = new Subscribers(this.settings.EDGESERVE_SSE_HEARTBEAT_SECONDS * 1000, () =>
      this.loaded ? this.streamContext(this.loaded) : undefined,
    );
  }

  /** Starts the run unless this id is already taken (then nothing changes). */
  start(request: StartRunRequest): StartRunOutcome {
    if (this.load() !== undefined) return { started: false, reason: "duplicate" };
    // An expired run's id is free again: its tombstone goes with the new run.
    if (this.ctx.storage.kv.get(TOMBSTONE_KEY) !== undefined) this.ctx.storage.kv.delete(TOMBSTONE_KEY);
    const pipeline = findPipeline(request.pipeline);
    if (!pipeline) throw new Error(`unknown pipeline '${request.pipeline}'`);
    createSchema(this.sql);
    const now = Date.now();
    const timeoutSeconds = runTimeoutSeconds(pipeline, this.settings, request.runTimeoutSeconds);
    const record = RunRecord.create({
      id: request.runId,
      pipeline: request.pipeline,
      status: "running",
      surface: request.surface,
      runName: request.runName ?? null,
      headers: request.headers,
      input: request.input,
      createdAt: now,
      deadlineAt: now + timeoutSeconds * 1000,
      finishedAt: null,
      expiresAt: null,
      nextSeq: 1,
      nextMessage: 0,
      resultCount: 0,
      error: null,
      steps: {},
      rowsWritten: 0,
      capture: request.capture,
      admission: request.admission ?? null,
      payloadsInR2: false,
    });
    const run = this.attach(record, { fresh: true });
    if (request.admission?.queued) {
      // Queued by admission control: stored as `pending` until the shard calls `admit`.
      record.row.status = "pending";
      run.orchestrator.drive();
    } else {
      run.orchestrator.begin(loadMessage(request.input));
    }
    this.indexWhileActive(run);
    return { started: true };
  }

  /** Called by the admission shard when a queued run gets its slot; false if it ended meanwhile. */
  admit(): boolean {
    const run = this.load();
    if (!run || run.orchestrator.record.row.status !== "pending") return false;
    run.orchestrator.begin(loadMessage(run.orchestrator.record.row.input));
    this.indexWhileActive(run);
    return true;
  }

  /** Starts the run and waits up to `timeoutMs` for it to end: the sync path in one round trip. */
  async startAndWait(request: StartRunRequest, timeoutMs: number): Promise<StartAndWaitOutcome> {
    const started = this.start(request);
    if (!started.started) return started;
    const outcome = await this.wait(timeoutMs);
    if (!outcome.found) throw new Error("a run vanished while it was being waited on");
    return { started: true, snapshot: outcome.snapshot };
  }

  /** Waits up to `timeoutMs` for the run to end, then describes it as it stands. */
  async wait(timeoutMs: number): Promise<WaitOutcome> {
    const run = this.load();
    if (!run) return this.missing();
    if (!run.orchestrator.record.terminal && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        this.waiters.add(done);
      });
    }
    return { found: true, snapshot: await this.snapshot(run) };
  }

  /** The run as it stands, with its results once it has completed. */
  async describe(): Promise<WaitOutcome> {
    const run = this.load();
    if (!run) return this.missing();
    const snapshot = await this.snapshot(run);
    snapshot.capture.steps = run.events.ofTypes(["step_completed", "step_failed"]).map((event) => {
      const captured: CapturedStep = { step: event.step ?? "", status: event.type === "step_failed" ? "failed" : "completed" };
      if (event.data && "input" in event.data) captured.input = event.data.input;
      if (event.data && "output" in event.data) captured.output = event.data.output;
      return captured;
    });
    return { found: true, snapshot };
  }

  /** Numaflow's message path: the edges each message travelled, with callback times. */
  messagePath(): MessagePath {
    const run = this.load();
    if (!run) return this.missing();
    const edges: EdgeCallback[] = [];
    for (const event of run.events.ofTypes(["step_completed", "result"])) {
      const from = event.data?.from;
      if (typeof from !== "string" || event.step === undefined) continue;
      edges.push({ from, to: event.step, cb_time: event.at });
    }
    return { found: true, status: run.orchestrator.record.row.status, edges };
  }

  async cancel(reason: string): Promise<CancelOutcome> {
    const run = this.load();
    if (!run) return this.missing();
    const cancelled = run.orchestrator.cancel(reason);
    return { found: true, cancelled, snapshot: await this.snapshot(run) };
  }

  /** The stage consumer asks to run a queued step (see src/runs/stage-protocol.ts). */
  claimStage(claim: unknown): StageClaimOutcome {
    const { key } = stageClaimSchema.parse(claim);
    const run = this.load();
    return run ? run.orchestrator.claimStage(key) : { proceed: false, reason: "unknown_run" };
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

  /** Hands a validated report to this run's orchestrator; a report for no run here is refused. */
  private report<T>(parsed: T, apply: (orchestrator: Orchestrator, report: T) => StageReportOutcome): StageReportOutcome {
    const run = this.load();
    return run ? apply(run.orchestrator, parsed) : { accepted: false, reason: "unknown_run" };
  }

  /** Development only (`npm run chaos`): resets this object as a crash would; refused unless chaos is on. */
  chaosReset(): void {
    if (!chaosEnabled(this.env)) throw new Error("chaos is off");
    this.ctx.abort("chaos: Run object reset on request");
  }

  /** `GET /events?format=numaflow|native` with `Last-Event-ID` or `?after=`: the run's event stream. */
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/ws") return this.acceptSocket(request);
    const run = this.load();
    if (!run) return Response.json({ code: "run_not_found" }, { status: 404 });
    const formatName = url.searchParams.get("format") ?? "native";
    if (!(formatName in STREAM_FORMATS)) return Response.json({ code: "bad_request" }, { status: 400 });
    const after = parseLastEventId(request.headers.get("last-event-id") ?? url.searchParams.get("after"));
    // A finished run's results may be in KV or R2: read them first, so the replay below stays synchronous.
    if (run.orchestrator.record.terminal) await run.results.prefetch();
    const response = this.subscribers.open(STREAM_FORMATS[formatName as StreamFormatName], run.events.replay(after ?? 0), {
      finished: run.orchestrator.record.terminal,
      resumed: after !== undefined,
    });
    return response ?? new Response(null, { status: 204 });
  }

  /** Takes a WebSocket for a run that will start from the client's first frame (hibernation API). */
  private acceptSocket(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ code: "bad_request" }, { status: 426 });
    }
    const attachment: SocketAttachment = {
      runId: request.headers.get("x-edgeserve-run-id") ?? "",
      pipeline: request.headers.get("x-edgeserve-pipeline") ?? "",
      headers: JSON.parse(request.headers.get("x-edgeserve-step-headers") ?? "{}") as Record<string, string>,
      admission: request.headers.has("x-edgeserve-admission")
        ? (JSON.parse(request.headers.get("x-edgeserve-admission") ?? "null") as AdmissionTicket)
        : null,
      started: false,
    };
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [ZENML_SOCKET_TAG]);
    server.serializeAttachment(attachment);
    return new Response(null, { status: 101, webSocket: client });
  }

  /** The client's request frame (ZenML's PipelineRequest) starts the run; later frames are ignored. */
  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = attachmentOf(socket);
    if (!attachment || attachment.started) return;
    const pipeline = findPipeline(attachment.pipeline);
    let request: StartRunRequest;
    try {
      if (!pipeline) throw new Error(`no pipeline named '${attachment.pipeline}' is deployed`);
      const text = typeof message === "string" ? message : new TextDecoder().decode(message);
      const parsed = pipelineRequestSchema.safeParse(JSON.parse(text));
      if (!parsed.success) throw new Error(`invalid request frame: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
      request = {
        runId: attachment.runId,
        pipeline: pipeline.name,
        input: validatePipelineInput(pipeline, parsed.data.parameters, { where: ["parameters"] }),
        headers: attachment.headers,
        surface: "zenml",
        runTimeoutSeconds: parsed.data.timeout,
        capture: await captureRequest(this.settings, pipeline, attachment.runId, captureOverride(parsed.data)),
        ...(attachment.admission ? { admission: attachment.admission } : {}),
        ...(parsed.data.run_name ? { runName: parsed.data.run_name } : {}),
      };
    } catch (error) {
      const details = error instanceof ApiError && error.details ? `: ${error.details.map((d) => `${d.path.join(".")}: ${d.message}`).join("; ")}` : "";
      failSocket(socket, `${error instanceof Error ? error.message : String(error)}${details}`);
      return;
    }
    socket.serializeAttachment({ ...attachment, started: true });
    const outcome = this.start(request);
    if (!outcome.started) failSocket(socket, `job ${attachment.runId} already exists`);
  }

  override async webSocketClose(socket: WebSocket, code: number, reason: string): Promise<void> {
    // Completes the closing handshake; without it the client sees 1006 (reference probe 3a).
    try {
      socket.close(code, reason);
    } catch {
      // already closed
    }
  }

  /** The watchdog: retention expiry for finished runs, deadline and re-drive for running ones. */
  override async alarm(): Promise<void> {
    const run = this.load({ fromAlarm: true });
    if (!run) {
      // Only a tombstone is left: it goes when its time is up.
      const tombstone = this.ctx.storage.kv.get<Tombstone>(TOMBSTONE_KEY);
      if (tombstone && Date.now() >= tombstone.at + TOMBSTONE_MS) await this.ctx.storage.deleteAll();
      return;
    }
    const row = run.orchestrator.record.row;
    await this.retryIndexIfPending(run.orchestrator.record);
    if (run.orchestrator.record.terminal) {
      const expired = row.expiresAt !== null && Date.now() >= row.expiresAt;
      if (!expired && run.results.needsMove()) await this.moveResults(run.results);
      if (expired) {
        // The id becomes reusable: the object holds nothing any more (deleteAll also drops the alarm).
        await deleteRunIndex(this.env.DB, row.pipeline, row.id);
        await run.results.deleteMoved();
        if (row.payloadsInR2) await deleteRunPayloads(this.env.PAYLOADS, row.pipeline, row.id);
        await this.ctx.storage.deleteAll();
        this.loaded = undefined;
        // A tombstone lets fetch say the run expired (rather than never existed) for a while.
        const now = Date.now();
        this.ctx.storage.kv.put<Tombstone>(TOMBSTONE_KEY, { at: now });
        await this.ctx.storage.setAlarm(now + TOMBSTONE_MS);
      } else if (row.expiresAt !== null) {
        // Results that could not be moved yet are tried again before the retention ends.
        const next = run.results.needsMove() ? Math.min(Date.now() + RESULTS_MOVE_RETRY_MS, row.expiresAt) : row.expiresAt;
        await this.ctx.storage.setAlarm(next);
      }
      return;
    }
    run.orchestrator.watchdog();
  }

  /** A run that is not here: expired (with when) if its tombstone says so. */
  private missing(): RunMissing {
    const tombstone = this.ctx.storage.kv.get<Tombstone>(TOMBSTONE_KEY);
    return tombstone ? { found: false, expired: { at: tombstone.at } } : { found: false };
  }

  private load(options: { fromAlarm?: boolean } = {}): LoadedRun | undefined {
    if (this.loaded) return this.loaded;
    if (!hasSchema(this.sql)) return undefined;
    migrate(this.sql);
    const record = RunRecord.load(this.sql);
    if (!record) return undefined;
    if (!options.fromAlarm && record.terminal && record.row.expiresAt !== null) void this.ensureRetentionAlarm(record.row.expiresAt);
    return this.attach(record, { fresh: false });
  }

  /** The retention alarm is set without confirmation; an instance that loads a finished run makes sure it exists. */
  private streamContext(run: LoadedRun): StreamContext {
    const row = run.orchestrator.record.row;
    return {
      runId: row.id,
      pipeline: row.pipeline,
      status: row.status,
      createdAt: row.createdAt,
      steps: run.pipeline.processingSteps,
      parameters: jsonInput(row.input),
      resultOf: (index) => run.results.getNow(index),
      results: () => resultsAsJson(run.results.listNow()),
    };
  }

  /**
   * REALTIME indexing: the row of a run that is still pending or running. A run that ended in the
   * same burst was indexed by `onTerminal` already; one row per state is enough.
   */
  private indexWhileActive(run: LoadedRun): void {
    if (!run.orchestrator.record.terminal && run.capture.indexing === "as-it-goes") this.indexRun(run.orchestrator.record);
  }

  /** Copies the run's state to the D1 run index in the background; on failure the alarm retries. */
  private indexRun(record: RunRecord): void {
    const write = writeRunIndex(this.env.INDEX_QUEUE, { ...record.row }, this.indexPreviews(record)).then(async (written) => {
      if (written) return;
      this.sql.run("UPDATE run SET index_pending = 1 WHERE singleton = 1");
      const retryAt = Date.now() + INDEX_RETRY_DELAY_MS;
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > retryAt) await this.ctx.storage.setAlarm(retryAt);
    });
    this.ctx.waitUntil(write);
  }

  /** Previews of the input and result for the index, small enough for a D1 row. */
  private indexPreviews(record: RunRecord): IndexPreviews {
    const run = this.loaded;
    if (!run || !run.capture.keepsPayloads(record.row.status)) return { parameters: null, result: null };
    const results = record.row.status === "completed" ? run.results.listNow() : undefined;
    const limits = { redact: run.capture.run.redact, maxBytes: Math.min(run.capture.run.maxBytes, INDEX_PREVIEW_MAX_BYTES) };
    return {
      parameters: preview(jsonInput(record.row.input), limits),
      result: results ? preview(resultsAsJson(results), limits) : null,
    };
  }

  /** Re-sends an index write that failed earlier (the flag is set only on failure). */
  private async retryIndexIfPending(record: RunRecord): Promise<void> {
    const pending = this.sql.one<{ index_pending: number }>("SELECT index_pending FROM run WHERE singleton = 1");
    if (!pending?.index_pending) return;
    await this.loaded?.results.prefetch();
    if (await writeRunIndex(this.env.INDEX_QUEUE, { ...record.row }, this.indexPreviews(record))) {
      this.sql.run("UPDATE run SET index_pending = 0 WHERE singleton = 1");
    }
  }

  /** Moves a finished run's results to its pipeline's store; on failure the alarm tries again soon. */
  private async moveResults(results: RunResults): Promise<void> {
    try {
      await results.move();
    } catch (error) {
      console.error(`edgeserve: moving results to the result store failed, will retry: ${String(error)}`);
      const retryAt = Date.now() + RESULTS_MOVE_RETRY_MS;
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > retryAt) await this.ctx.storage.setAlarm(retryAt);
    }
  }

  private async ensureRetentionAlarm(expiresAt: number): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(expiresAt);
  }

  private attach(record: RunRecord, options: { fresh: boolean }): LoadedRun {
    const pipeline = findPipeline(record.row.pipeline);
    if (!pipeline) throw new Error(`run '${record.row.id}' belongs to pipeline '${record.row.pipeline}', which is not deployed`);
    const ttlSeconds = pipeline.definition.retentionSeconds ?? this.settings.EDGESERVE_RETENTION_SECONDS;
    const results = new RunResults(
      new SqliteResultStore(this.sql, options),
      pipeline.definition.resultStore,
      // KV's own expiry is a backstop behind the retention alarm: a day longer.
      { kv: new KvResultStore(this.env.RESULTS_KV, ttlSeconds + 86_400), r2: new R2ResultStore(this.env.RESULTS_BUCKET) },
      { pipeline: record.row.pipeline, runId: record.row.id },
    );
    const events = new EventLog(this.sql, { next: () => record.nextSeq() }, (event) => {
      this.subscribers.publish(event);
      // Only ZenML's WebSocket starts runs with a socket attached; other runs skip the lookup.
      const loaded = this.loaded;
      if (loaded && record.row.surface === "zenml") publishToSockets(this.ctx, event, () => this.streamContext(loaded));
    });
    const capture = new RunCapturePolicy(record.row.capture, pipeline);
    const orchestrator = new Orchestrator({
      capture,
      sql: this.sql,
      storage: this.ctx.storage,
      record,
      pipeline,
      events,
      results,
      retentionMs: (pipeline.definition.retentionSeconds ?? this.settings.EDGESERVE_RETENTION_SECONDS) * 1000,
      watchdogMs: this.settings.EDGESERVE_WATCHDOG_SECONDS * 1000,
      stageLeaseMs: this.settings.EDGESERVE_STAGE_LEASE_SECONDS * 1000,
      sendStages: (plans) => {
        const sending = sendStages(this.env.STAGE_QUEUE, this.env.PAYLOADS, plans);
        this.ctx.waitUntil(sending.catch(() => undefined));
        return sending;
      },
      sendInvocations: (invocations) => {
        const handing = Promise.all(
          invocations.map((invocation) =>
            enqueueInvocation(this.env.FUNCTIONS, invocation).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
          ),
        );
        this.ctx.waitUntil(handing);
        return handing;
      },
      env: this.env as unknown as Record<string, unknown>,
      now: Date.now,
      onTerminal: () => {
        for (const wake of [...this.waiters]) wake();
        if (results.needsMove()) this.ctx.waitUntil(this.moveResults(results));
        if (capture.indexing !== "none") this.indexRun(record);
        const ticket = record.row.admission;
        if (ticket) {
          this.ctx.waitUntil(
            release(this.env.ADMISSION, ticket, record.row.id).catch((error: unknown) =>
              console.error(`edgeserve: releasing the admission slot of ${record.row.id} failed (its lease will expire): ${String(error)}`),
            ),
          );
        }
      },
    });
    this.loaded = { pipeline, orchestrator, events, results, capture };
    return this.loaded;
  }

  private async snapshot(run: LoadedRun): Promise<RunSnapshot> {
    const row = run.orchestrator.record.row;
    const snapshot: RunSnapshot = {
      id: row.id,
      pipeline: row.pipeline,
      status: row.status,
      surface: row.surface,
      createdAt: row.createdAt,
      steps: row.steps,
      resultCount: row.resultCount,
      stepsExecuted: countStepsExecuted(run.pipeline, row.steps),
      capture: run.capture.describe(jsonInput(row.input), row.status),
      rowsWritten: row.rowsWritten,
    };
    if (row.runName !== null) snapshot.runName = row.runName;
    if (row.finishedAt !== null) snapshot.finishedAt = row.finishedAt;
    if (row.expiresAt !== null) snapshot.expiresAt = row.expiresAt;
    if (row.error !== null) snapshot.error = row.error;
    if (row.status === "completed") snapshot.results = await run.results.list();
    return snapshot;
  }
}

function jsonInput(stored: StoredMessage): JsonValue {
  return "v" in stored ? stored.v : null;
}
