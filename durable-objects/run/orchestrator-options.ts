/**
 * What a run's orchestrator is given: the run's record, storage and collaborators, its limits, and
 * the sends it may make. Its own module so that the step dispatchers (./dispatch), which lend these
 * options, do not import the orchestrator that drives them.
 */
import type { Pipeline } from "../../src/pipeline/graph";
import type { StagePlan } from "../../src/queues/stage-transport";
import type { EnqueueOutcome, RemoteInvocation, RunEnded } from "../../src/remote/protocol";
import type { AlarmPlan } from "./alarm-plan";
import type { EventLog } from "./event-log";
import type { RunCapturePolicy } from "./run-capture";
import type { RunRecord } from "./run-record";
import type { RunResults } from "./run-results";
import type { RunStore } from "./run-store";

export interface OrchestratorOptions {
  capture: RunCapturePolicy;
  store: RunStore;
  alarm: AlarmPlan;
  record: RunRecord;
  pipeline: Pipeline;
  events: EventLog;
  results: RunResults;
  retentionMs: number;
  watchdogMs: number;
  /** How long a queued step may go unheard of (beyond its timeout or retry delay) before it is sent again. */
  stageLeaseMs: number;
  /** Messages one step invocation may emit; more fails the step (EDGESERVE_MAX_FANOUT). */
  maxFanout: number;
  /** Sends planned stages (after the burst that recorded them is persisted). */
  sendStages: (plans: StagePlan[]) => Promise<void>;
  /** Hands invocations to their function addresses; one outcome (or error) per invocation. */
  sendInvocations: (invocations: RemoteInvocation[]) => Promise<(EnqueueOutcome | Error)[]>;
  /** Tells function addresses (`namespace/type/id`) that the run ended; one outcome (or error) per address. */
  tellRunEnded: (addresses: string[], notice: RunEnded) => Promise<(undefined | Error)[]>;
  /** The Worker's environment (a remote endpoint's base URL may come from it). */
  env: Readonly<Record<string, unknown>>;
  now: () => number;
  /** Called once, in the burst that ends the run, before it is written. */
  onEnding: () => void;
  /** Called once, after the burst that ended the run has been persisted. */
  onTerminal: () => void;
}
