/** A run's own deadline: the request's choice, else the pipeline's, else the deployment default. */
import type { Pipeline } from "../pipeline/graph";
import type { Settings } from "../settings";

/** How the error message of a run that outlived its deadline starts (the run index counts them by it). */
export const TIMEOUT_MESSAGE_START = "run exceeded its timeout of ";

/** The error message of a run that outlived its deadline (a surface may reword it: `timedOutAfter`). */
export function timeoutMessage(seconds: number): string {
  return `${TIMEOUT_MESSAGE_START}${seconds} s`;
}

/** The seconds a run was given, when `message` says it outlived them (`timeoutMessage`). */
export function timedOutAfter(message: string): number | undefined {
  const match = /^run exceeded its timeout of (\d+) s/.exec(message);
  return match ? Number(match[1]) : undefined;
}

export function runTimeoutSeconds(pipeline: Pipeline, settings: Settings, requested?: number): number {
  return requested ?? pipeline.definition.runTimeoutSeconds ?? settings.EDGESERVE_RUN_TIMEOUT_SECONDS;
}
