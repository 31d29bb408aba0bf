/**
 * Admission control, the Worker's side: per pipeline, a concurrency limit and a queue limit,
 * counted by a few AdmissionObject shards (`EDGESERVE_ADMISSION_SHARDS`), each holding an equal
 * share of the limits. Slots are leased by isolates in blocks (admission-slots.ts), so a run
 * pays no round trip for its slot while there is room; every run that ends gives its slot back:
 * a sync run whose caller waited to its block here, every other run through the run-events queue,
 * whose consumer hands a batch of releases to each shard in one call.
 *
 * Accuracy (README "Admission"): the limit is never exceeded (every running run holds a slot a
 * shard granted, and a shard grants no more than its share); room is under-used by the slots
 * sitting free in isolates' blocks (at most what an isolate's runs in flight needed in the window,
 * for at most the window), by releases in flight through the queue (its batch time), and by the
 * blocks of an isolate that died holding them, until their lease ends.
 */
import type { AdmissionTicket, BlockSlot, ShardStats } from "../admission/protocol";
import { ApiError } from "../errors/api-error";
import type { Pipeline } from "../pipeline/graph";
import type { Settings } from "../settings";
import { PipelineSlots, type WaitUntil } from "./admission-slots";

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

/** Each isolate's blocks, by pipeline (and the settings they were leased under). */
const pools = new Map<string, PipelineSlots>();

export class Admission {
  constructor(
    private readonly env: Env,
    private readonly settings: Settings,
    private readonly waitUntil: WaitUntil,
  ) {}

  /** A slot for a run about to start, or null when the pipeline is at its concurrency limit. */
  take(pipeline: Pipeline, runTimeout: number): Promise<BlockSlot | null> {
    return this.pool(pipeline).take(this.waitUntil, runTimeout);
  }

  giveBack(pipeline: Pipeline, slot: AdmissionTicket): void {
    if ("block" in slot) this.pool(pipeline).giveBack(slot, this.waitUntil);
  }

  /** Runs waiting in the pipeline's queue, and requests refused (since each shard last started), over its shards. */
  stats(pipeline: Pipeline): Promise<ShardStats> {
    return this.pool(pipeline).stats();
  }

  /** Queues an async run that found no slot; throws 429 when the queue is full too. */
  async enqueue(pipeline: Pipeline, runId: string, runTimeout: number): Promise<AdmissionTicket> {
    const decision = await this.pool(pipeline).enqueue(runId, runTimeout);
    if (decision.state === "refused") throw this.atCapacity(pipeline, "async");
    return decision.state === "running" ? decision.slot : decision.ticket;
  }

  /** Takes a queued run out of its shard's queue (its start was refused as a duplicate). */
  async withdraw(ticket: AdmissionTicket, runId: string): Promise<void> {
    await this.env.ADMISSION.get(this.env.ADMISSION.idFromName(ticket.shard)).release({
      released: "block" in ticket ? [{ runId, block: ticket.block }] : [],
      withdraw: "block" in ticket ? [] : [runId],
    });
  }

  /**
   * The 429 for a start that may not queue (a sync call, a stream, a WebSocket), counted by one of
   * the pipeline's shards for `/concurrency/stats` (a refused enqueue is counted by its shard).
   */
  refuse(pipeline: Pipeline): ApiError {
    this.pool(pipeline).countRefusal(this.waitUntil);
    return this.atCapacity(pipeline, "sync");
  }

  private atCapacity(pipeline: Pipeline, mode: "sync" | "async"): ApiError {
    const limits = admissionLimits(pipeline, this.settings);
    const retryAfter = this.settings.EDGESERVE_RETRY_AFTER_SECONDS;
    return new ApiError(
      "too_many_requests",
      `pipeline '${pipeline.name}' is at its limit of ${limits.maxConcurrency} concurrent runs` +
        (mode === "async" ? ` and ${limits.maxQueueSize} queued` : "") +
        `; retry after ${retryAfter} s`,
      { headers: { "retry-after": String(retryAfter) } },
    );
  }

  private pool(pipeline: Pipeline): PipelineSlots {
    const limits = admissionLimits(pipeline, this.settings);
    const key = `${pipeline.name}\u0000${this.settings.EDGESERVE_ADMISSION_SHARDS}\u0000${limits.maxConcurrency}\u0000${limits.maxQueueSize}`;
    let pool = pools.get(key);
    if (!pool) {
      pool = new PipelineSlots(this.env.ADMISSION, pipeline, this.settings, limits);
      pools.set(key, pool);
    }
    return pool;
  }
}
