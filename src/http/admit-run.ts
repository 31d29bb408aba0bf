/**
 * Starts a run behind admission control: takes a slot (429 past the limits), starts the run with
 * the ticket, and gives the slot back if the run did not start (a duplicate id), so a refused or
 * duplicate request leaves nothing half-made.
 */
import { admit, release } from "../admission/admission";
import type { Pipeline } from "../pipeline/graph";
import type { StartRunOutcome, StartRunRequest } from "../runs/protocol";
import type { RunClient } from "../engine/run-client";
import { runTimeoutSeconds } from "../runs/run-timeout";
import type { Settings } from "../settings";

export async function admitRun(
  env: Env,
  settings: Settings,
  pipeline: Pipeline,
  request: StartRunRequest,
  mode: "sync" | "async",
): Promise<StartRunRequest> {
  const timeout = runTimeoutSeconds(pipeline, settings, request.runTimeoutSeconds);
  const admission = await admit(env.ADMISSION, pipeline, settings, { runId: request.runId, mode, runTimeoutSeconds: timeout });
  return { ...request, admission };
}

/** Gives the slot back when the start was refused (the id was taken): nothing of this request remains. */
export async function releaseIfNotStarted(env: Env, run: RunClient, request: StartRunRequest, outcome: StartRunOutcome): Promise<void> {
  if (!outcome.started && request.admission) await release(env.ADMISSION, request.admission, run.runId);
}
