/**
 * The engine service: the one door through which every surface starts, waits for, describes,
 * streams and cancels runs. It builds the start request (capture, forwarded headers, timeouts),
 * validates run ids, owns admission (src/engine/admission.ts), and turns a missing run into
 * `run_not_found` or `run_expired`. Surfaces only translate their wire format to and from it.
 */
import * as z from "zod";
import { isWaiting, type AdmissionTicket } from "../admission/protocol";
import { captureRequest } from "../capture/capture-request";
import type { CapturePolicyInput } from "../capture/policy";
import { ApiError } from "../errors/api-error";
import { forwardedHeaders } from "../http/forwarded-headers";
import type { Pipeline } from "../pipeline/graph";
import type { StoredMessage } from "../pipeline/message";
import type { CancelOutcome, MessagePath, RunMissing, RunSnapshot, StartRunRequest, Surface } from "../runs/protocol";
import { runIdProblem, surfaceRunIdProblem } from "../runs/run-id";
import { runTimeoutSeconds } from "../runs/run-timeout";
import type { Settings } from "../settings";
import type { StreamFormatName } from "../streams/format";
import { Admission } from "./admission";
import type { WaitUntil } from "./admission-slots";
import { missingRun } from "./missing-run";
import { RunClient } from "./run-client";
import { sendWithOtherRuns } from "./run-index-batch";

/** What a Run object answers a subscriber over its cap (429). */
const subscriberRefusalSchema = z.object({ code: z.literal("too_many_subscribers"), message: z.string() });

export interface StartSpec {
  pipeline: Pipeline;
  runId: string;
  input: StoredMessage;
  /** The request's headers; the run keeps them without credentials (src/http/forwarded-headers.ts). */
  headers: Headers;
  /** A header the run's id is forwarded in too, as the steps see the headers (Numaflow's id header, even when the server chose the id). */
  idHeader?: string;
  surface: Surface;
  runName?: string;
  /** Kept with the run: see `StartRunRequest.requestDigest`. */
  requestDigest?: string;
  /** Kept with the run: see `StartRunRequest.sseStart`. */
  sseStart?: true;
  /** The caller's own run timeout (ZenML's `timeout`), else the pipeline's. */
  runTimeoutSeconds?: number;
  captureOverride?: CapturePolicyInput;
}

/**
 * `async`: answer at once (past the concurrency limit the run waits in the queue, unless
 * `queueWhenFull` is false: a stream's watcher wants it now); otherwise answer once the run ends
 * or `waitMs` has passed (the pipeline's request timeout by default).
 */
/**
 * `queueWhenFull`: past the concurrency limit, the run waits in the admission queue (while the
 * queue has room) instead of being refused: the default for async starts; a sync start that asks
 * for it (ZenML's `/invoke`) then waits for its run as any sync caller does.
 */
export type StartMode = { async: true; queueWhenFull?: boolean } | { async: false; waitMs?: number; queueWhenFull?: boolean };

/** A duplicate says whether the run there was started by a Numaflow SSE request (`sseStart`). */
export type StartResult = { started: true; snapshot?: RunSnapshot } | { started: false; reason: "duplicate"; sseStart?: true };

/** How a surface words "no such run" (the engine adds `run_expired` itself). */
export type NotFound = (runId: string) => ApiError;

const duplicate = (found: { sseStart?: true }): StartResult =>
  found.sseStart ? { started: false, reason: "duplicate", sseStart: true } : { started: false, reason: "duplicate" };

const defaultNotFound: NotFound = (runId) => new ApiError("run_not_found", `no run with id ${runId}`);

export class RunService {
  readonly admission: Admission;

  constructor(
    private readonly env: Env,
    readonly settings: Settings,
    private readonly waitUntil: WaitUntil,
  ) {
    this.admission = new Admission(env, settings, waitUntil);
  }

  /** The run of that pipeline and id; a malformed id is a 400 that names `label`. */
  run(pipeline: string, runId: string, label = "run id"): RunClient {
    const problem = runIdProblem(runId);
    if (problem) throw new ApiError("invalid_run_id", `${label} ${problem}`);
    return new RunClient(this.env, pipeline, runId);
  }

  /** A run named by a Numaflow or ZenML client: as `run`, and an id with `~` (a native id) is a 400 too. */
  surfaceRun(pipeline: string, runId: string, label: string): RunClient {
    const problem = surfaceRunIdProblem(runId);
    if (problem) throw new ApiError("invalid_run_id", `${label} ${problem}`);
    return new RunClient(this.env, pipeline, runId);
  }

  /** How long a sync call waits before answering that the run goes on (Numaflow: 408). */
  requestTimeoutMs(pipeline: Pipeline): number {
    return (pipeline.definition.requestTimeoutSeconds ?? this.settings.EDGESERVE_REQUEST_TIMEOUT_SECONDS) * 1000;
  }

  /**
   * Starts a run behind admission. A duplicate id is reported before any slot is counted, so a
   * replay is answered even when the pipeline is full; past the limits, 429 with Retry-After.
   */
  async start(spec: StartSpec, mode: StartMode): Promise<StartResult> {
    const run = this.run(spec.pipeline.name, spec.runId);
    const timeout = runTimeoutSeconds(spec.pipeline, this.settings, spec.runTimeoutSeconds);
    const request = await this.startRequest(spec);
    const slot = await this.admission.take(spec.pipeline, timeout);
    if (slot === null) return this.startWithoutSlot(run, spec.pipeline, request, mode, timeout);
    if (mode.async) {
      const outcome = await run.start({ ...request, admission: slot });
      if (outcome.started) return outcome;
      this.admission.giveBack(spec.pipeline, slot);
      return duplicate(outcome);
    }
    const giveBack = () => this.admission.giveBack(spec.pipeline, slot);
    // Ended while this call waited, or not started (a duplicate): the slot is this isolate's again.
    const answered = run.startAndWait({ ...request, admission: slot }, mode.waitMs ?? this.requestTimeoutMs(spec.pipeline), giveBack).then((outcome) => {
      if (!outcome.started) giveBack();
      else if (outcome.indexRow) sendWithOtherRuns(this.env, this.waitUntil, outcome.indexRow);
      return outcome;
    });
    // The Run object hands the slot and the index row back in its answer: if the client goes away
    // meanwhile (which cancels the request), the answer must still be taken in, or both are lost.
    this.waitUntil(answered.catch(() => undefined));
    const outcome = await answered;
    return outcome.started ? { started: true, snapshot: outcome.snapshot } : duplicate(outcome);
  }

  /**
   * The pipeline is full: a duplicate is still a duplicate; a start that may queue (async ones,
   * and sync ones that ask) waits in the queue while it has room; any other gets 429.
   */
  private async startWithoutSlot(run: RunClient, pipeline: Pipeline, request: StartRunRequest, mode: StartMode, timeout: number): Promise<StartResult> {
    const presence = await run.probe();
    if (presence.found) return duplicate(presence);
    const queues = mode.async ? mode.queueWhenFull !== false : mode.queueWhenFull === true;
    if (!queues) throw this.admission.refuse(pipeline);
    const ticket = await this.admission.enqueue(pipeline, run.runId, timeout);
    // Queued for a sync caller, it waits in the object as any sync caller does (so a policy that
    // keeps no payloads stores none past its answer); its slot, once its shard gives it one, goes
    // back to the shard when the run ends, since the caller never held it.
    const outcome = mode.async
      ? await run.start({ ...request, admission: ticket })
      : await run.startAndWait({ ...request, admission: ticket }, mode.waitMs ?? this.requestTimeoutMs(pipeline), () => undefined);
    // A shard keeps one queue entry per run id: when the run already there waits on the same
    // shard (a concurrent start of the same id queued first), the entry is that run's.
    if (!outcome.started && !waitsOn(outcome.holds, ticket)) await this.admission.withdraw(ticket, run.runId);
    if (!outcome.started) return duplicate(outcome);
    return "snapshot" in outcome ? { started: true, snapshot: outcome.snapshot } : outcome;
  }

  /** The run as it stands (with its results once completed); 404 when it is not there. */
  async describe(run: RunClient, notFound: NotFound = defaultNotFound): Promise<RunSnapshot> {
    return found(run, await run.describe(), notFound).snapshot;
  }

  /** Waits up to `timeoutMs` for the run to end, then describes it. */
  async wait(run: RunClient, timeoutMs: number, notFound: NotFound = defaultNotFound): Promise<RunSnapshot> {
    return found(run, await run.wait(timeoutMs), notFound).snapshot;
  }

  /** Cancels the run, with the caller's reason if it gave one (a run's message says "cancelled by request" otherwise). */
  async cancel(run: RunClient, reason: string | undefined, notFound: NotFound = defaultNotFound): Promise<Extract<CancelOutcome, { found: true }>> {
    return found(run, await run.cancel(reason?.slice(0, 1000)), notFound);
  }

  async messagePath(run: RunClient, notFound: NotFound = defaultNotFound): Promise<Extract<MessagePath, { found: true }>> {
    return found(run, await run.messagePath(), notFound);
  }

  /** Whether the run exists (without reading it); 404 (or `run_expired`) when not. */
  async ensureExists(run: RunClient, notFound: NotFound = defaultNotFound): Promise<void> {
    await this.deadline(run, notFound);
  }

  /** The run's deadline (epoch ms): it has ended by then at the latest; 404 (or `run_expired`) when it is not there. */
  async deadline(run: RunClient, notFound: NotFound = defaultNotFound): Promise<number> {
    return found(run, await run.probe(), notFound).deadlineAt;
  }

  /** The run's event stream in a surface's framing, resuming after `lastEventId`. */
  async events(run: RunClient, format: StreamFormatName, lastEventId: string | null, notFound: NotFound = defaultNotFound): Promise<Response> {
    const response = await run.events(format, lastEventId);
    if (response.status === 404) {
      const missing = (await response.json()) as RunMissing;
      throw missingRun(run.runId, missing, () => notFound(run.runId));
    }
    if (response.status === 429) {
      const refusal = subscriberRefusalSchema.parse(await response.json());
      throw new ApiError("too_many_subscribers", refusal.message, { headers: { "retry-after": String(this.settings.EDGESERVE_RETRY_AFTER_SECONDS) } });
    }
    // A fresh Response: the Run object's has immutable headers, and surfaces add some.
    return new Response(response.body, response);
  }

  /**
   * ZenML's `WS /stream`: the new run's object takes the socket and starts the run from the
   * client's first frame. The slot is taken now, so a refused watcher gets 429 before any upgrade;
   * the Run object gives it back if the run never starts.
   */
  async openSocket(pipeline: Pipeline, runId: string, upgrade: Request): Promise<Response> {
    const run = this.run(pipeline.name, runId);
    const slot = await this.admission.take(pipeline, runTimeoutSeconds(pipeline, this.settings));
    if (slot === null) throw this.admission.refuse(pipeline);
    return run.acceptWebSocket(upgrade, forwardedHeaders(upgrade.headers, this.settings.EDGESERVE_STRIP_HEADERS), slot);
  }

  private async startRequest(spec: StartSpec): Promise<StartRunRequest> {
    return {
      runId: spec.runId,
      pipeline: spec.pipeline.name,
      input: spec.input,
      headers: forwardedHeaders(
        spec.headers,
        this.settings.EDGESERVE_STRIP_HEADERS,
        spec.idHeader !== undefined ? { name: spec.idHeader, runId: spec.runId } : undefined,
      ),
      surface: spec.surface,
      capture: await captureRequest(this.settings, spec.pipeline, spec.runId, spec.captureOverride),
      ...(spec.runTimeoutSeconds !== undefined ? { runTimeoutSeconds: spec.runTimeoutSeconds } : {}),
      ...(spec.runName !== undefined ? { runName: spec.runName } : {}),
      ...(spec.requestDigest !== undefined ? { requestDigest: spec.requestDigest } : {}),
      ...(spec.sseStart ? { sseStart: true as const } : {}),
      startToken: crypto.randomUUID(),
    };
  }
}

function found<T extends { found: boolean }>(run: RunClient, outcome: T | RunMissing, notFound: NotFound): Extract<T, { found: true }> {
  if (!outcome.found) throw missingRun(run.runId, outcome as RunMissing, () => notFound(run.runId));
  return outcome as Extract<T, { found: true }>;
}

function waitsOn(held: AdmissionTicket | null | undefined, ticket: AdmissionTicket): boolean {
  return held != null && isWaiting(held) && held.shard === ticket.shard;
}
