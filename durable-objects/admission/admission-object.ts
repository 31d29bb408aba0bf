/**
 * AdmissionObject: one shard of a pipeline's admission counter (`<pipeline>#<shard>`). It grants
 * slots in blocks to Worker isolates (src/engine/admission.ts), takes them back in batches, and
 * keeps the queue of async runs waiting for a slot. A block's slots count as in use until they
 * are given back or the block's lease ends (by then every run it served has passed its deadline),
 * so a caller that dies never holds a slot for good.
 *
 * Accuracy and cost: see the README ("Admission").
 */
import { DurableObject } from "cloudflare:workers";
import type {
  BlockReturns,
  EnqueueDecision,
  EnqueueRequest,
  LeaseDecision,
  LeaseRequest,
  ReleaseBatch,
} from "../../src/admission/protocol";
import { RunClient } from "../../src/engine/run-client";

/** How soon a promotion whose Run object could not be reached is tried again. */
const PROMOTION_RETRY_MS = 1_000;
/** Run ids whose release was applied, remembered to ignore a redelivered release message. */
const RECENT_RELEASES_MAX = 10_000;

interface WaitingRow extends Record<string, SqlStorageValue> {
  run_id: string;
  pipeline: string;
  shard: string;
  concurrency: number;
  lease_ms: number;
  retry_at: number;
}

export class AdmissionObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly recentReleases = new Set<string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Once per shard object, not per run.
    this.sql.exec(`CREATE TABLE IF NOT EXISTS blocks (id TEXT PRIMARY KEY, granted INTEGER NOT NULL, released INTEGER NOT NULL, lease_until INTEGER NOT NULL)`);
    this.sql.exec(
      `CREATE TABLE IF NOT EXISTS waiting (run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, shard TEXT NOT NULL, concurrency INTEGER NOT NULL,
       lease_ms INTEGER NOT NULL, since INTEGER NOT NULL, retry_at INTEGER NOT NULL)`,
    );
  }

  /** Grants up to `want` slots as one block (none when the shard is full or runs are waiting). */
  lease(request: LeaseRequest): LeaseDecision {
    const now = Date.now();
    if (request.returns) this.applyReturns(request.returns);
    this.expire(now);
    // Runs waiting in the queue came first: they get freed slots before new callers.
    const room = this.hasWaiting() ? 0 : request.concurrency - this.inUse();
    const granted = Math.max(0, Math.min(request.want, room));
    const block = `b-${crypto.randomUUID()}`;
    if (granted > 0) this.insertBlock(block, granted, now + request.leaseMs);
    if (request.returns) this.ctx.waitUntil(this.promote());
    return { block, granted };
  }

  /** An async run that found no slot: runs at once if there is room now, else waits if the queue has room. */
  enqueue(request: EnqueueRequest): EnqueueDecision {
    const now = Date.now();
    this.expire(now);
    if (!this.hasWaiting() && this.inUse() < request.concurrency) {
      const block = `r-${request.runId}-${now}`;
      this.insertBlock(block, 1, now + request.leaseMs);
      return { state: "running", slot: { shard: request.shard, block } };
    }
    const queued = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM waiting").one().n;
    if (queued >= request.queueSize) return { state: "refused" };
    this.sql.exec(
      "INSERT OR IGNORE INTO waiting (run_id, pipeline, shard, concurrency, lease_ms, since, retry_at) VALUES (?, ?, ?, ?, ?, ?, 0)",
      request.runId,
      request.pipeline,
      request.shard,
      request.concurrency,
      request.leaseMs,
      now,
    );
    return { state: "queued", ticket: { shard: request.shard, waiting: true } };
  }

  /** Slots given back and waiting runs withdrawn; then queued runs get the room. */
  async release(batch: ReleaseBatch): Promise<void> {
    const returns: BlockReturns = {};
    for (const { runId, block } of batch.released) {
      // Queues deliver at least once: a release seen before (a redelivered message) frees nothing.
      if (this.recentReleases.has(runId)) continue;
      this.remember(runId);
      returns[block] = (returns[block] ?? 0) + 1;
    }
    this.applyReturns(returns);
    for (const id of batch.withdraw) this.sql.exec("DELETE FROM waiting WHERE run_id = ?", id);
    await this.promote();
  }

  /** Slots of isolates given back outside a lease call (an isolate's block ended unused). */
  async giveBack(returns: BlockReturns): Promise<void> {
    this.applyReturns(returns);
    await this.promote();
  }

  override async alarm(): Promise<void> {
    this.expire(Date.now());
    await this.promote();
  }

  /** Starts waiting runs, oldest first, while there is room; a Run object that cannot be reached is tried again. */
  private async promote(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.expire(now);
      const next = this.sql
        .exec<WaitingRow>("SELECT * FROM waiting WHERE retry_at <= ? ORDER BY since, run_id LIMIT 1", now)
        .toArray()[0];
      if (!next || this.inUse() >= next.concurrency) break;
      const block = `w-${next.run_id}-${now}`;
      this.insertBlock(block, 1, now + next.lease_ms);
      let admitted: boolean;
      try {
        admitted = await new RunClient(this.env.RUNS, next.pipeline, next.run_id).admit({ shard: next.shard, block });
      } catch (error) {
        console.error(`edgeserve admission: could not start queued run ${next.run_id}, will retry: ${String(error)}`);
        this.sql.exec("DELETE FROM blocks WHERE id = ?", block);
        this.sql.exec("UPDATE waiting SET retry_at = ? WHERE run_id = ?", now + PROMOTION_RETRY_MS, next.run_id);
        continue;
      }
      this.sql.exec("DELETE FROM waiting WHERE run_id = ?", next.run_id);
      // A run that ended while it waited (cancelled, timed out) gives the slot straight back.
      if (!admitted) this.sql.exec("DELETE FROM blocks WHERE id = ?", block);
    }
    await this.armRetry();
  }

  private async armRetry(): Promise<void> {
    const next = this.sql.exec<{ at: number | null }>("SELECT MIN(retry_at) AS at FROM waiting WHERE retry_at > 0").one().at;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  private remember(runId: string): void {
    this.recentReleases.add(runId);
    if (this.recentReleases.size > RECENT_RELEASES_MAX) {
      const oldest = this.recentReleases.values().next().value;
      if (oldest !== undefined) this.recentReleases.delete(oldest);
    }
  }

  private applyReturns(returns: BlockReturns): void {
    for (const [block, count] of Object.entries(returns)) {
      if (count <= 0) continue;
      this.sql.exec("UPDATE blocks SET released = MIN(granted, released + ?) WHERE id = ?", count, block);
      this.sql.exec("DELETE FROM blocks WHERE id = ? AND released >= granted", block);
    }
  }

  private expire(now: number): void {
    this.sql.exec("DELETE FROM blocks WHERE lease_until < ?", now);
  }

  private inUse(): number {
    return this.sql.exec<{ n: number | null }>("SELECT SUM(granted - released) AS n FROM blocks").one().n ?? 0;
  }

  private hasWaiting(): boolean {
    return this.sql.exec("SELECT 1 FROM waiting LIMIT 1").toArray().length > 0;
  }

  private insertBlock(id: string, granted: number, leaseUntil: number): void {
    this.sql.exec("INSERT INTO blocks (id, granted, released, lease_until) VALUES (?, ?, 0, ?)", id, granted, leaseUntil);
  }
}
