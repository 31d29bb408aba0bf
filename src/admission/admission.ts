/**
 * Admission control: per pipeline, a concurrency limit and a queue limit, counted by a few
 * AdmissionObject shards (`EDGESERVE_ADMISSION_SHARDS`), each holding an equal share of the
 * limits. A request picks a shard at random; past the shard's share, a sync call gets 429 with
 * Retry-After and starts nothing, and an async call waits in the queue until that is full too.
 */
import { ApiError } from "../errors/api-error";
import type { Pipeline } from "../pipeline/graph";
import type { Settings } from "../settings";
import type { AdmissionTicket } from "./protocol";

/** Extra time a lease outlives its run's deadline, so a slow release never double-books. */
const LEASE_MARGIN_MS = 60_000;

export interface AdmissionLimits {
  maxConcurrency: number;
  maxQueueSize: number;
}

export function admissionLimits(pipeline: Pipeline, settings: Settings): AdmissionLimits {
  return {
    maxConcurrency: pipeline.definition.admission?.maxConcurrency ?? settings.EDGESERVE_MAX_CONCURRENCY,
    maxQueueSize: pipeline.definition.admission?.maxQueueSize ?? settings.EDGESERVE_MAX_QUEUE_SIZE,
  };
}

/** Takes a slot for a run, or throws 429. The caller must `release` it if the run does not start. */
export async function admit(
  namespace: Env["ADMISSION"],
  pipeline: Pipeline,
  settings: Settings,
  request: { runId: string; mode: "sync" | "async"; runTimeoutSeconds: number },
): Promise<AdmissionTicket> {
  const limits = admissionLimits(pipeline, settings);
  const shards = settings.EDGESERVE_ADMISSION_SHARDS;
  const shard = `${pipeline.name}#${Math.floor(Math.random() * shards)}`;
  const decision = await namespace.get(namespace.idFromName(shard)).acquire({
    pipeline: pipeline.name,
    runId: request.runId,
    mode: request.mode,
    concurrency: Math.ceil(limits.maxConcurrency / shards),
    queueSize: Math.ceil(limits.maxQueueSize / shards),
    leaseMs: request.runTimeoutSeconds * 1000 + LEASE_MARGIN_MS,
  });
  if (!decision.admitted) {
    const retryAfter = settings.EDGESERVE_RETRY_AFTER_SECONDS;
    throw new ApiError(
      "too_many_requests",
      `pipeline '${pipeline.name}' is at its limit of ${limits.maxConcurrency} concurrent runs` +
        (request.mode === "async" ? ` and ${limits.maxQueueSize} queued` : "") +
        `; retry after ${retryAfter} s`,
      { headers: { "retry-after": String(retryAfter) } },
    );
  }
  return { shard, queued: decision.queued };
}

/** Gives a slot back (a run that did not start, or one that ended). */
export async function release(namespace: Env["ADMISSION"], ticket: AdmissionTicket, runId: string): Promise<void> {
  await namespace.get(namespace.idFromName(ticket.shard)).release(runId);
}
