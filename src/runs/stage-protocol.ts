/**
 * The contract between the stage consumer and a Run object: the consumer claims a stage before it
 * runs it and reports how it went. Every report is keyed by the work item's idempotency key, so a
 * duplicate or late report changes nothing. The Run object validates each request with these
 * schemas: the consumer runs in another invocation, maybe in another version of the Worker.
 */
import * as z from "zod";
import { storedMessageSchema } from "../pipeline/message";

const key = z.string().min(1).max(512);

export const stageClaimSchema = z.strictObject({ key });
export type StageClaim = z.infer<typeof stageClaimSchema>;

/**
 * Why a stage is not (or no longer) wanted; the consumer acknowledges the message and moves on.
 * `settled`: the work item already has its outcome. `stale`: a newer attempt has claimed it.
 */
export type StageRefusal = "unknown_run" | "run_ended" | "settled" | "stale";

export type StageClaimOutcome =
  | {
      proceed: true;
      /** This attempt's number, counted by the Run object across redeliveries and resends. */
      attempt: number;
      /** The headers the run was started with, for the step's context. */
      headers: Record<string, string>;
    }
  | { proceed: false; reason: StageRefusal };

export const stageCompletionSchema = z.strictObject({
  key,
  attempt: z.number().int().min(1),
  outputs: z.array(storedMessageSchema),
  ms: z.number().min(0),
});
export type StageCompletion = z.infer<typeof stageCompletionSchema>;

export const stageRetrySchema = z.strictObject({
  key,
  attempt: z.number().int().min(1),
  error: z.string().max(4096),
  delaySeconds: z.number().min(0),
  ms: z.number().min(0),
});
export type StageRetry = z.infer<typeof stageRetrySchema>;

export const stageFailureReportSchema = z.strictObject({
  key,
  attempts: z.number().int().min(0),
  error: z.string().max(4096),
});
export type StageFailureReport = z.infer<typeof stageFailureReportSchema>;

/** `accepted: false` for a report that changed nothing (duplicate, late, unknown or ended run). */
export type StageReportOutcome = { accepted: true } | { accepted: false; reason: StageRefusal };
