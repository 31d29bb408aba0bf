/**
 * What differs between step kinds, behind one interface: how a ready work item is dispatched
 * (executed here, sent to the stage queue, handed to its function's address), what the watchdog
 * does with an item whose lease passed or whose execution was lost, when the item must be checked
 * next, and what is sent once a burst is persisted. The orchestrator drives the graph and asks the
 * step's dispatcher; it lends the dispatchers the run's bookkeeping through `DispatchHost`.
 */
import type { Message, JsonValue } from "../../../src/pipeline/message";
import type { OrchestratorOptions } from "../orchestrator-options";
import type { WorkItem } from "../run-record";
import type { StepLedger } from "./step-ledger";

export interface StepDispatcher {
  /** Starts a ready (pending) work item of this kind. */
  dispatch(item: WorkItem): void;
  /**
   * The watchdog's look at a work item of a running run: an item whose lease passed, or whose
   * execution was lost to an eviction, is made pending again (to be dispatched anew). Returns why
   * the run must fail instead (the item was tried too often), or undefined.
   */
  watchdog(item: WorkItem): string | undefined;
  /** When the watchdog must look at the item next; `watchdogAt` is the regular check. */
  nextCheckAt(item: WorkItem, watchdogAt: number): number;
  /** Work items of this kind executing inside this instance (an eviction would lose them). */
  readonly executing: number;
  /** The run ended: stops what runs here; outcomes that arrive later change nothing. */
  abandon(): void;
  /** The burst that recorded sends has been persisted: sends them. */
  persisted(): void;
}

/** When an enqueued message may go (a delayed message), and the token that cancels it. */
export interface Held {
  notBefore?: number;
  token?: string;
}

/** What the orchestrator lends its dispatchers: the run, its steps' account, and its moves. */
export interface DispatchHost {
  readonly options: OrchestratorOptions;
  readonly steps: StepLedger;
  /** Records a step's outputs and routes them on along its edges. */
  stepCompleted(item: WorkItem, outputs: Message[], ms: number, extra?: Record<string, JsonValue>): void;
  /** A running step streamed `delta`: logged and published at once, written coalesced. */
  stepDelta(item: WorkItem, delta: string): void;
  /** Records a step's failure and fails the run; `ms` is null when the failure was not timed here. */
  stepFailed(item: WorkItem, message: string, ms: number | null): void;
  /** Adds a work item for `step` carrying `message`. */
  enqueue(step: string, from: string | null, message: Message, held?: Held): void;
  /** The sent-out work item a report is about, or why there is none to act on. */
  awaitedItem(key: string, kind: "queued" | "remote"): WorkItem | "run_ended" | "settled";
  /** Runs every ready work item, then persists the burst. */
  drive(): void;
  /** Persists the burst. */
  flush(): void;
}
