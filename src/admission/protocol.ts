/** What the Worker asks of an admission shard, and what it answers. Plain data for RPC. */
export interface AdmissionRequest {
  pipeline: string;
  runId: string;
  /** Sync calls need a running slot now; async calls may wait in the queue. */
  mode: "sync" | "async";
  /** This shard's share of the pipeline's limits. */
  concurrency: number;
  queueSize: number;
  /** How long the slot is held if the run never releases it (its deadline, plus a margin). */
  leaseMs: number;
}

export type AdmissionDecision = { admitted: true; queued: boolean } | { admitted: false };

/** What a run needs to know to give its slot back. */
export interface AdmissionTicket {
  shard: string;
  queued: boolean;
}
