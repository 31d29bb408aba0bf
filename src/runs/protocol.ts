/**
 * The contract between the Worker and a Run object: what a route may ask of a run and what it gets
 * back. Plain data only, so it crosses the RPC boundary by structured clone.
 */
import type { JsonValue, StoredMessage } from "../pipeline/message";

export type Surface = "numaflow" | "zenml" | "native";

export type RunStatus = "running" | "completed" | "failed" | "cancelled";

export const TERMINAL_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];

export interface StartRunRequest {
  runId: string;
  pipeline: string;
  input: StoredMessage;
  /** Request headers handed to steps (without `Authorization`). */
  headers: Record<string, string>;
  surface: Surface;
  runName?: string;
  /** Overrides the deployment's run timeout for this run. */
  runTimeoutSeconds?: number;
}

export type StartRunOutcome = { started: true } | { started: false; reason: "duplicate" };

export type CancelOutcome = { found: false } | { found: true; cancelled: boolean; snapshot: RunSnapshot };

export interface RunErrorInfo {
  code: "run_failed" | "run_timeout" | "run_cancelled";
  message: string;
  step?: string;
}

export interface ResultItem {
  bytes: Uint8Array;
  contentType: string;
}

export type StepStatus = "pending" | "running" | "completed" | "failed";

export interface StepState {
  status: StepStatus;
  /** Invocations started, including retries after an interruption. */
  started: number;
  completed: number;
  failed: number;
  firstStartedAt?: number;
  lastFinishedAt?: number;
}

export interface RunSnapshot {
  id: string;
  pipeline: string;
  status: RunStatus;
  surface: Surface;
  runName?: string;
  createdAt: number;
  finishedAt?: number;
  expiresAt?: number;
  error?: RunErrorInfo;
  steps: Record<string, StepState>;
  resultCount: number;
  /** Step invocations completed, sinks excluded (ZenML's `steps_executed`). */
  stepsExecuted: number;
  /** The run's input as JSON (null when it was bytes); typed loosely to keep RPC types shallow. */
  input: unknown;
  /** Present once the run has completed. */
  results?: ResultItem[];
  /** SQLite rows this run has written so far (the unit Cloudflare bills). */
  rowsWritten: number;
}

export type WaitOutcome = { found: false } | { found: true; snapshot: RunSnapshot };

export type StartAndWaitOutcome = StartRunOutcome | { started: true; snapshot: RunSnapshot };

export interface EdgeCallback {
  from: string;
  to: string;
  cb_time: number;
}

export type MessagePath =
  | { found: false }
  | { found: true; status: RunStatus; edges: EdgeCallback[] };

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
  | "step_started"
  | "step_completed"
  | "step_failed"
  | "result"
  | "run_completed"
  | "run_failed"
  | "run_cancelled";

export const TERMINAL_EVENTS: readonly RunEventType[] = ["run_completed", "run_failed", "run_cancelled"];
