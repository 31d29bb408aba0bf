/**
 * What the Worker, the Run objects and the release consumer ask of an admission shard, and what it
 * answers. Plain data for RPC and queue messages. See src/engine/admission.ts for the design.
 */
import * as z from "zod";

/** A slot a run holds: one of the slots of a block a shard granted. */
export interface BlockSlot {
  shard: string;
  block: string;
}

/** An async run waiting in a shard's queue for a slot (its Run object stores it `pending`). */
export interface WaitingSlot {
  shard: string;
  waiting: true;
}

export type AdmissionTicket = BlockSlot | WaitingSlot;

export function isWaiting(ticket: AdmissionTicket): ticket is WaitingSlot {
  return "waiting" in ticket;
}

/** Slots given back to a shard: a count per block. */
export type BlockReturns = Record<string, number>;

export interface LeaseRequest {
  /** The shard's name, `<pipeline>#<n>` (tickets carry it). */
  shard: string;
  pipeline: string;
  /** How many slots the caller would like (it may get fewer, or none). */
  want: number;
  /** This shard's share of the pipeline's concurrency limit. */
  concurrency: number;
  /** How long the block's slots are counted if nobody gives them back (the longest run it may serve, plus margins). */
  leaseMs: number;
  /** Slots of earlier blocks given back with this call. */
  returns?: BlockReturns;
}

export interface LeaseDecision {
  block: string;
  granted: number;
}

export interface EnqueueRequest {
  shard: string;
  pipeline: string;
  runId: string;
  concurrency: number;
  queueSize: number;
  leaseMs: number;
}

/** `running`: there was room after all (the run holds the block's one slot); `queued`: it waits. */
export type EnqueueDecision = { state: "running"; slot: BlockSlot } | { state: "queued"; ticket: WaitingSlot } | { state: "refused" };

/** What a shard counts, for `/concurrency/stats`. */
export interface ShardStats {
  /** Async runs waiting in its queue. */
  waiting: number;
  /** Requests answered 429 (counted by one shard each), since this shard object last started (not stored). */
  refusals: number;
}

/** What the release consumer sends a shard, gathered from a batch of run-ended messages. */
export interface ReleaseBatch {
  /** Slots of ended runs; the run id lets a redelivered message free nothing twice. */
  released: { runId: string; block: string }[];
  /** Waiting runs that ended before they got a slot (cancelled, timed out). */
  withdraw: string[];
}

/** One run's slot release, as a Run object sends it through the run-events queue. */
export const slotReleaseSchema = z.strictObject({
  shard: z.string().min(1).max(300),
  runId: z.string().min(1).max(300),
  block: z.string().min(1).max(400).optional(),
  waiting: z.literal(true).optional(),
});
export type SlotRelease = z.infer<typeof slotReleaseSchema>;
