/**
 * RunClient: the one place that maps (pipeline, run id) to the stub of the object that hosts the
 * run — its own Run object, or its journal shard (src/engine/run-hosts.ts) — and that knows how to
 * recover when a call to a run is cut by an eviction or a deploy (retry idempotent calls with a new
 * stub, as Cloudflare's Durable Object error guidance says).
 */
import { ApiError } from "../errors/api-error";
import type { StreamFormatName } from "../streams/format";
import type { BlockSlot } from "../admission/protocol";
import {
  RUN_ID_HEADER,
  type CancelOutcome,
  type MessagePath,
  type RunPresence,
  type RunSnapshot,
  type StartAndWaitOutcome,
  type StartRunOutcome,
  type StartRunRequest,
  type WaitOutcome,
} from "../runs/protocol";
import type { StageClaimOutcome, StageCompletion, StageFailureReport, StageReportOutcome, StageRetry } from "../runs/stage-protocol";
import type { RemoteReport } from "../remote/protocol";
import { carriedObjectId } from "../runs/run-id";
import type { RunIndexKey } from "./run-index";
import { runHostOf } from "./run-hosts";
import { shardName } from "./shard-name";

/** What RunClient needs of the Worker's environment: the two hosts' namespaces. */
export type RunHostBindings = Pick<Env, "RUNS" | "RUN_SHARDS">;

/**
 * Both hosts answer the same calls (durable-objects/run/run-entrypoints.ts); a shard's stub is
 * used through the Run object's type, as the Worker's environment declares it.
 */
type RunHostStub = ReturnType<Env["RUNS"]["get"]>;

/**
 * Attempts for an idempotent call whose object was reset under it: 50 ms, then doubling, about
 * 1.5 s in all. A journal shard is reset by any of its runs' faults, so a call may meet a second
 * reset while it retries; giving up too soon would answer 503 for a start that had been stored.
 */
const IDEMPOTENT_CALL_ATTEMPTS = 5;
const RETRY_BASE_DELAY_MS = 50;
const RETRY_MAX_DELAY_MS = 1000;

/**
 * The Run object of a run: the object id a server-generated native id carries (no name check), else
 * the name `<pipeline>:<run id>`. An id that only looks as if it carried one (not this namespace's)
 * falls back to its name, where no run is: it answers not found, as any unknown id does.
 */
export function runObjectId(namespace: Pick<DurableObjectNamespace, "idFromString" | "idFromName">, pipeline: string, runId: string): DurableObjectId {
  const carried = carriedObjectId(pipeline, runId);
  if (carried !== undefined) {
    try {
      return namespace.idFromString(carried);
    } catch {
      // Not an id of this namespace: looked up by name below.
    }
  }
  return namespace.idFromName(`${pipeline}:${runId}`);
}

/** The stub of the object that hosts a run: its own Run object, or its journal shard. */
export function runHostStub(bindings: RunHostBindings, pipeline: string, runId: string): RunHostStub {
  const host = runHostOf(pipeline);
  if (host.kind === "journal") {
    const shards = bindings.RUN_SHARDS;
    return shards.get(shards.idFromName(shardName(pipeline, runId, host.shards))) as unknown as RunHostStub;
  }
  return bindings.RUNS.get(runObjectId(bindings.RUNS, pipeline, runId));
}

export class RunClient {
  constructor(
    private readonly bindings: RunHostBindings,
    readonly pipeline: string,
    readonly runId: string,
  ) {}

  private stub(): RunHostStub {
    return runHostStub(this.bindings, this.pipeline, this.runId);
  }

  /**
   * Starts the run. A reset can cut the call before or after the run was stored: the start is
   * asked again, and a duplicate carrying this call's own token is the run it started.
   */
  async start(request: StartRunRequest): Promise<StartRunOutcome> {
    try {
      return (await this.stub().start(this.runId, request)) as StartRunOutcome;
    } catch (error) {
      if (!isRetryable(error)) throw unavailable(error);
    }
    return this.startAgain(request);
  }

  /**
   * Starts and waits in one round trip. A reset can cut it before or after the run was stored (on
   * the journal host, any run's fault resets its whole shard): the start is asked again, as `start`
   * does, then the run is waited for. `slotReturned` is called (once at most) when the run ended
   * while this call waited, so its admission slot is the caller's again.
   */
  async startAndWait(request: StartRunRequest, timeoutMs: number, slotReturned: () => void): Promise<StartAndWaitOutcome> {
    const deadline = Date.now() + timeoutMs;
    try {
      const outcome = (await this.stub().startAndWait(this.runId, request, timeoutMs)) as StartAndWaitOutcome;
      if (outcome.started && outcome.slotReturned) slotReturned();
      return outcome;
    } catch (error) {
      if (!isRetryable(error)) throw unavailable(error);
      const again = await this.startAgain(request);
      if (!again.started) return again;
      // The cut answer carried the slot back (the stored run says so): it is the caller's again
      // now, whatever the wait below comes to.
      if (again.slotReturned) slotReturned();
      const outcome = await this.wait(Math.max(0, deadline - Date.now()));
      if (!outcome.found) throw unavailable(error);
      return { started: true, snapshot: outcome.snapshot };
    }
  }

  /** A start whose first call was cut: a duplicate holding this call's own token is the run it started. */
  private async startAgain(request: StartRunRequest): Promise<StartRunOutcome> {
    const again = await this.idempotent((stub) => stub.start(this.runId, request) as Promise<StartRunOutcome>, { afterCut: true });
    if (!again.started && request.startToken !== undefined && again.startToken === request.startToken) {
      return again.slotToStarter ? { started: true, slotReturned: true } : { started: true };
    }
    return again;
  }

  wait(timeoutMs: number): Promise<WaitOutcome> {
    const deadline = Date.now() + timeoutMs;
    return this.idempotent((stub) => stub.wait(this.runId, Math.max(0, deadline - Date.now())) as Promise<WaitOutcome>, { until: deadline });
  }

  /** Whether the run is there (or expired), without reading it. */
  probe(): Promise<RunPresence> {
    return this.idempotent((stub) => stub.probe(this.runId) as Promise<RunPresence>);
  }

  /** A queued run gets its slot (from its admission shard); false if it ended while it waited. */
  admit(slot: BlockSlot): Promise<boolean> {
    return this.idempotent((stub) => stub.admit(this.runId, slot));
  }

  describe(): Promise<WaitOutcome> {
    return this.idempotent((stub) => stub.describe(this.runId) as Promise<WaitOutcome>);
  }

  /** Cancels the run (idempotent: a second cancel finds it already ended). */
  cancel(reason?: string): Promise<CancelOutcome> {
    return this.idempotent((stub) => stub.cancel(this.runId, reason) as Promise<CancelOutcome>);
  }

  /** Asks to run a queued step (the stage consumer, before it runs one). */
  claimStage(key: string): Promise<StageClaimOutcome> {
    return this.idempotent((stub) => stub.claimStage(this.runId, { key }) as Promise<StageClaimOutcome>);
  }

  /** Reports a queued step's outputs; a second report of the same key is accepted:false. */
  completeStage(report: StageCompletion): Promise<StageReportOutcome> {
    return this.idempotent((stub) => stub.completeStage(this.runId, report) as Promise<StageReportOutcome>);
  }

  retryStage(report: StageRetry): Promise<StageReportOutcome> {
    return this.idempotent((stub) => stub.retryStage(this.runId, report) as Promise<StageReportOutcome>);
  }

  failStage(report: StageFailureReport): Promise<StageReportOutcome> {
    return this.idempotent((stub) => stub.failStage(this.runId, report) as Promise<StageReportOutcome>);
  }

  /** A message with the run's index row was dead-lettered: the run sends it again; false if the run is not here. */
  indexUndelivered(createdAt: number): Promise<boolean> {
    return this.idempotent((stub) => stub.indexUndelivered(this.runId, createdAt));
  }

  /** The dead-letter consumer hands back an expired run's index-row deletion (see RunObject.indexDeleteUndelivered). */
  indexDeleteUndelivered(key: RunIndexKey): Promise<void> {
    return this.idempotent((stub) => stub.indexDeleteUndelivered(this.runId, key));
  }

  /** A function address reports a batch's outcome (see src/remote/protocol.ts). */
  completeRemote(report: RemoteReport): Promise<StageReportOutcome> {
    return this.idempotent((stub) => stub.completeRemote(this.runId, report) as Promise<StageReportOutcome>);
  }

  /**
   * Development only (`npm run chaos`): resets the run's object. A reset cuts the call that made it,
   * so the call failing with the object's reset is the success; any other outcome (the object
   * refusing, an unreachable object, an answer without a reset) is thrown for the caller to see.
   */
  async chaosReset(): Promise<void> {
    try {
      await this.stub().chaosReset(this.runId);
    } catch (error) {
      if (wasReset(error)) return;
      throw new ApiError("run_unavailable", `the Run object was not reset: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    throw new ApiError("internal_error", "the Run object answered the reset without resetting");
  }

  messagePath(): Promise<MessagePath> {
    return this.idempotent((stub) => stub.messagePath(this.runId) as Promise<MessagePath>);
  }

  /** Opens the run's event stream in the given surface format, resuming after `lastEventId`. */
  events(format: StreamFormatName, lastEventId: string | null): Promise<Response> {
    const headers = new Headers({ [RUN_ID_HEADER]: this.runId });
    if (lastEventId !== null) headers.set("last-event-id", lastEventId);
    return this.idempotent((stub) => stub.fetch(`https://run.internal/events?format=${format}`, { headers }));
  }

  /**
   * Hands a WebSocket upgrade to this run's object, which accepts it with the hibernation API and
   * starts the run from the first frame the client sends (ZenML's `WS /stream`).
   */
  acceptWebSocket(upgrade: Request, headers: Record<string, string>, slot: BlockSlot): Promise<Response> {
    const forwarded = new Headers(upgrade.headers);
    forwarded.set("x-edgeserve-slot", JSON.stringify(slot));
    forwarded.set(RUN_ID_HEADER, this.runId);
    forwarded.set("x-edgeserve-pipeline", this.pipeline);
    forwarded.set("x-edgeserve-step-headers", JSON.stringify(headers));
    return this.stub().fetch("https://run.internal/ws", { headers: forwarded });
  }

  /**
   * Calls the run's object, again with a new stub after a reset: IDEMPOTENT_CALL_ATTEMPTS times, or
   * for as long as `until` (a wait's deadline) has not passed, since a long wait on a journal shard
   * may see several resets, each just a reason to wait again. `afterCut`: an earlier call that may
   * have run was cut (a start), so an overloaded object is waited out too (its refusal says only
   * that this call did not run), and the answer never says that nothing was started.
   */
  private async idempotent<T>(call: (stub: RunHostStub) => Promise<T>, options: { until?: number; afterCut?: boolean } = {}): Promise<T> {
    const { until, afterCut = false } = options;
    let lastError: unknown;
    for (let attempt = 0; attempt < IDEMPOTENT_CALL_ATTEMPTS || (until !== undefined && Date.now() < until); attempt++) {
      try {
        return await call(this.stub());
      } catch (error) {
        lastError = error;
        if (!isRetryable(error) && !(afterCut && isOverloaded(error))) break;
        await new Promise((resolve) => setTimeout(resolve, Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** attempt)));
      }
    }
    throw unavailable(lastError, { mayHaveStarted: afterCut });
  }
}

export type { RunSnapshot };

/** A reset object (eviction, deploy, `ctx.abort`) is worth one more try; an overloaded one is not. */
function isRetryable(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const flags = error as { retryable?: unknown; remote?: unknown };
  if (isOverloaded(error)) return false;
  // A reset object comes back at once; on the journal host, another run's fault can reset the shard under this call.
  if (flags.retryable === true || wasReset(error)) return true;
  // An exception thrown by the object's own code is `remote`; a reset object (eviction, `ctx.abort`)
  // rejects without either flag locally (reference/cloudflare-platform.md, probe 6).
  return flags.remote !== true && flags.retryable === undefined;
}

/** The error a call sees when its object was reset under it (`ctx.abort`), as workerd flags it. */
function wasReset(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { durableObjectReset?: unknown }).durableObjectReset === true;
}

/** Seconds a caller is asked to wait when the run's object is overloaded. */
const OVERLOADED_RETRY_AFTER_SECONDS = 1;

function unavailable(cause: unknown, { mayHaveStarted = false } = {}): ApiError {
  if (isOverloaded(cause)) {
    const retry = mayHaveStarted
      ? "the start was cut by a reset before, so the run may have been stored: ask for it by its id (a start with the same id is a duplicate if it was)"
      : "with the same id: nothing was started";
    return new ApiError(
      "run_host_overloaded",
      `the object that hosts this run is overloaded and did not take the call; retry after ${OVERLOADED_RETRY_AFTER_SECONDS} s (${retry})`,
      { cause, headers: { "retry-after": String(OVERLOADED_RETRY_AFTER_SECONDS) } },
    );
  }
  return new ApiError("run_unavailable", "the run could not be reached; retry the request shortly", { cause });
}

/** The platform's error for an object over its request rate (`overloaded`: the call was not run). */
function isOverloaded(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { overloaded?: unknown }).overloaded === true;
}
