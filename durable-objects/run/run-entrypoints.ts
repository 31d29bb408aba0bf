/**
 * What a run host answers over RPC: the object host (one Run object per run, run-object.ts) and
 * the journal host (shard objects holding many runs, durable-objects/shard/run-shard.ts) take
 * the same calls, each naming its run first, so src/engine/run-client.ts reaches either the same
 * way. Reports arrive unparsed (`unknown`): the host validates them.
 */
import type { BlockSlot } from "../../src/admission/protocol";
import type { CancelOutcome, MessagePath, RunPresence, StartAndWaitOutcome, StartRunOutcome, StartRunRequest, WaitOutcome } from "../../src/runs/protocol";
import type { StageClaimOutcome, StageReportOutcome } from "../../src/runs/stage-protocol";

export interface RunEntrypoints {
  start(runId: string, request: StartRunRequest): StartRunOutcome | Promise<StartRunOutcome>;
  startAndWait(runId: string, request: StartRunRequest, timeoutMs: number): Promise<StartAndWaitOutcome>;
  admit(runId: string, slot: BlockSlot): boolean | Promise<boolean>;
  wait(runId: string, timeoutMs: number): Promise<WaitOutcome>;
  describe(runId: string): Promise<WaitOutcome>;
  probe(runId: string): RunPresence | Promise<RunPresence>;
  messagePath(runId: string): MessagePath | Promise<MessagePath>;
  cancel(runId: string, reason?: string): Promise<CancelOutcome>;
  claimStage(runId: string, claim: unknown): StageClaimOutcome | Promise<StageClaimOutcome>;
  completeStage(runId: string, report: unknown): StageReportOutcome | Promise<StageReportOutcome>;
  retryStage(runId: string, report: unknown): StageReportOutcome | Promise<StageReportOutcome>;
  failStage(runId: string, report: unknown): StageReportOutcome | Promise<StageReportOutcome>;
  completeRemote(runId: string, report: unknown): StageReportOutcome | Promise<StageReportOutcome>;
  indexUndelivered(runId: string, createdAt: number): boolean | Promise<boolean>;
  indexDeleteUndelivered(runId: string, key: unknown): void | Promise<void>;
  chaosReset(runId: string): void;
}
