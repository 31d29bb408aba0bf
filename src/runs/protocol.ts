/**
 * The contract between the Worker and a Run object: what a route may ask of a run and what it gets
 * back. Plain data only, so it crosses the RPC boundary by structured clone.
 */
import type { AdmissionTicket } from "../admission/protocol";
import type { CaptureMode, CapturePolicy, CapturePolicyInput, RuntimeMode } from "../capture/policy";
import type { JsonValue, StoredMessage } from "../pipeline/message";
import type { RunIndexRowMessage } from "./index-row";

export type Surface = "numaflow" | "zenml" | "native";

/** `pending`: accepted and queued by admission control, not started yet. */
export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** Whether a run has not ended yet. */
export function isActive(status: RunStatus): boolean {
  return status === "pending" || status === "running";
}

export const TERMINAL_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];

export interface StartRunRequest {
  runId: string;
  pipeline: string;
  input: StoredMessage;
  /** Request headers handed to steps (without credentials). */
  headers: Record<string, string>;
  surface: Surface;
  runName?: string;
  /** The SHA-256 of the request body that chose this run's id (native `Idempotency-Key` starts). */
  requestDigest?: string;
  /** Started by a Numaflow SSE request: the same id sent there again re-attaches to the run (Numaflow replays it). */
  sseStart?: true;
  /** Overrides the deployment's run timeout for this run. */
  runTimeoutSeconds?: number;
  /**
   * Unique to this start call: a start repeated after a reset cut its answer is told whether the
   * run it finds is its own (a duplicate outcome carries the stored run's token).
   */
  startToken?: string;
  capture: CaptureRequest;
  /** The admission slot this run holds; a waiting one keeps it `pending` until its shard admits it. */
  admission?: AdmissionTicket;
}

/** What the Worker tells a run about capture; the run resolves it per step with its pipeline. */
export interface CaptureRequest {
  /** The request's `capture_override` (ZenML), highest precedence. */
  override?: CapturePolicyInput;
  /** The deployment default (EDGESERVE_CAPTURE_*), lowest precedence. */
  fallback: CapturePolicy;
  runtime: Exclude<RuntimeMode, "memory-only">;
  /** `sampleFraction(run id)`, decided once by the Worker; a run is sampled when it is below the rate. */
  sampleFraction: number;
}

/** What a run recorded under its capture policy. */
export interface CapturedRun {
  mode: CaptureMode;
  runtime: RuntimeMode;
  /** Whether this run's payloads were captured (full, or sampled and chosen). */
  payloads: boolean;
  /** The input as captured (redacted, truncated), or null when the policy keeps no payloads. */
  parameters: unknown;
  /** Each step invocation's captured input and output (only with `describe`, and only what was kept). */
  steps?: CapturedStep[];
}

export interface CapturedStep {
  step: string;
  status: "completed" | "failed";
  input?: unknown;
  output?: unknown;
}

/**
 * A refused start names the admission ticket the run already there holds (if any), so that a
 * caller that queued for the same id can tell whether the queue entry is that run's.
 */
/**
 * `slotReturned` (a start asked again after a cut, which found its own run): the run ended while
 * its sync starter waited, so the starter holds its slot again. `slotToStarter` on a duplicate:
 * the stored run's slot went back to the caller holding its `startToken`.
 */
export type StartRunOutcome =
  | { started: true; slotReturned?: true }
  | { started: false; reason: "duplicate"; holds?: AdmissionTicket | null; startToken?: string; slotToStarter?: true; sseStart?: true };

/** A run that is not there: never started, or (with `expired`) deleted when its retention ended. */
export interface RunMissing {
  found: false;
  expired?: { at: number };
}

/** A probe's answer: the run is here, until its deadline at the latest; or it is missing. */
export type RunPresence = RunMissing | { found: true; deadlineAt: number; sseStart?: true };

export type CancelOutcome = RunMissing | { found: true; cancelled: boolean; snapshot: RunSnapshot };

export interface RunErrorInfo {
  code: "run_failed" | "run_timeout" | "run_cancelled";
  message: string;
  step?: string;
  /** A cancellation's reason as its caller gave it; absent when none was given. */
  reason?: string;
}

/** The message of a run cancelled without a reason. */
export const CANCELLED_MESSAGE = "cancelled by request";

export interface ResultItem {
  bytes: Uint8Array;
  contentType: string;
}

/**
 * `queued`: a queued step's input is on the stage queue, waiting for a consumer. `stopped`: the run
 * ended (cancelled, timed out, or failed in another step) while the step still had work.
 */
export type StepStatus = "pending" | "queued" | "running" | "completed" | "failed" | "stopped";

export interface StepState {
  status: StepStatus;
  /** Invocations started, including retries after an interruption. */
  started: number;
  completed: number;
  failed: number;
  /** Queued steps: failed attempts that were tried again after a delay. */
  retried?: number;
  /** Attempts lost without an outcome (the Run object reset mid-step, a consumer gone after its claim) and run again. */
  interrupted?: number;
  /** Streaming steps: deltas its current attempt emitted (`step_delta` events, numbered from 0). */
  deltas?: number;
  /** Remote steps: hand-overs deferred because the address had a full mailbox (backpressure) or could not be reached. */
  heldBack?: number;
  firstStartedAt?: number;
  lastFinishedAt?: number;
}

export interface RunSnapshot {
  id: string;
  pipeline: string;
  status: RunStatus;
  surface: Surface;
  runName?: string;
  /** The SHA-256 of the request body that chose this run's id, when an `Idempotency-Key` did. */
  requestDigest?: string;
  /** The run's input and results were deleted once its sync answer was sent: its capture policy keeps no payloads. */
  payloadsDropped?: true;
  createdAt: number;
  finishedAt?: number;
  expiresAt?: number;
  error?: RunErrorInfo;
  steps: Record<string, StepState>;
  resultCount: number;
  /** Step invocations completed, sinks excluded (ZenML's `steps_executed`). */
  stepsExecuted: number;
  /** What the run recorded under its capture policy (the raw input is never exposed). */
  capture: CapturedRun;
  /** Present once the run has completed. */
  results?: ResultItem[];
  /** SQLite rows this run has written so far (the unit Cloudflare bills). */
  rowsWritten: number;
}

export type WaitOutcome = RunMissing | { found: true; snapshot: RunSnapshot };

/** `slotReturned`: the run ended while the caller waited, so its admission slot is the caller's again. */
/**
 * `indexRow`: the run ended while its caller waited, and its final index row comes with the answer
 * for the caller's isolate to send with other runs' rows (src/engine/run-index-batch.ts); the run
 * sends no message of its own.
 */
export type StartAndWaitOutcome =
  | Extract<StartRunOutcome, { started: false }>
  | { started: true; snapshot: RunSnapshot; slotReturned?: boolean; indexRow?: RunIndexRowMessage };

export interface EdgeCallback {
  from: string;
  to: string;
  cb_time: number;
}

export type MessagePath = RunMissing | { found: true; status: RunStatus; edges: EdgeCallback[] };

/** One record of a run's progress; `seq` numbers them per run from 1. */
export interface RunEvent {
  seq: number;
  type: RunEventType;
  at: number;
  step?: string;
  data?: { [key: string]: JsonValue };
}

export type RunEventType =
  | "run_started"
  | "step_queued"
  | "step_started"
  | "step_retrying"
  | "step_send_failed"
  | "step_interrupted"
  | "step_delta"
  | "step_completed"
  | "step_failed"
  | "result"
  | "run_completed"
  | "run_failed"
  | "run_cancelled";

export const TERMINAL_EVENTS: readonly RunEventType[] = ["run_completed", "run_failed", "run_cancelled"];

/** The header that names the run of a `fetch` to its host (`/events`, `/ws`): a journal shard holds many. */
export const RUN_ID_HEADER = "x-edgeserve-run-id";
