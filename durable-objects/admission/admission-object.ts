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
  BlockSlot,
  EnqueueDecision,
  EnqueueRequest,
  LeaseDecision,
  LeaseRequest,
  ReleaseBatch,
  ShardStats,
} from "../../src/admission/protocol";
import { RunClient } from "../../src/engine/run-client";
import { Sql } from "../sql";

/** How soon a promotion whose Run object could not be reached is tried again (the shard's alarm). */
const PROMOTION_RETRY_MS = 1_000;
/** Run ids whose release was applied, remembered to ignore a redelivered release message. */
const RECENT_RELEASES_MAX = 10_000;
/** The block a waiting run is promoted with, in SQL; `promotionBlock` is the same in TypeScript. */
const PROMOTION_BLOCK_SQL = "'w-' || run_id || '-' || since";

interface WaitingRow extends Record<string, SqlStorageValue> {
  run_id: string;
  pipeline: string;
  shard: string;
  concurrency: number;
  lease_ms: number;
  since: number;
  retry_at: number;
}

/**
 * A waiting run's promotion block: one per stay in the queue, so every attempt to promote the run
 * offers its Run object the same slot, and a retry after a lost answer is recognised as the slot
 * the run already holds.
 */
function promotionBlock(row: WaitingRow): string {
  return `w-${row.run_id}-${row.since}`;
}

/** A fault the next promotions of one run meet (see `promotionFaults`). */
export interface PromotionFault {
  /** `unreachable`: the call fails before the Run object sees it; `answer-lost`: after it admitted the run. */
  at: "unreachable" | "answer-lost";
  /** How many promotions fail this way (counts down; `Infinity` for all of them). */
  times: number;
}

export class AdmissionObject extends DurableObject<Env> {
  /** The one door to the shard's SQLite, counting the rows it writes. */
  private readonly sql: Sql;
  private readonly recentReleases = new Set<string>();
  /** Waiting runs whose promotion is awaiting their Run object's answer in this instance. */
  private readonly promoting = new Set<string>();
  /** Whether this instance set the alarm (a retry, or the guard of a promotion under way). */
  private alarmArmed = false;
  private failures = 0;
  /** Lease calls this instance answered (a stats figure for tests, in memory only). */
  private leaseCalls = 0;
  /** Requests refused here since this instance started; kept in memory only (a stats figure, not worth a write each). */
  private refusals = 0;

  /**
   * Fault injection for tests (test/integration/admission-faults.test.ts): the promotions of these
   * run ids fail as described. Nothing in the Worker fills it, so it is empty in production, and as
   * an instance property it is not reachable over Workers RPC (only prototype methods and accessors
   * are); a test reaches it through `runInDurableObject`, which hands it this instance.
   */
  readonly promotionFaults = new Map<string, PromotionFault>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage.sql);
    // Once per shard object, not per run.
    this.sql.run(`CREATE TABLE IF NOT EXISTS blocks (id TEXT PRIMARY KEY, granted INTEGER NOT NULL, released INTEGER NOT NULL, lease_until INTEGER NOT NULL)`);
    this.sql.run(
      `CREATE TABLE IF NOT EXISTS waiting (run_id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, shard TEXT NOT NULL, concurrency INTEGER NOT NULL,
       lease_ms INTEGER NOT NULL, since INTEGER NOT NULL, retry_at INTEGER NOT NULL)`,
    );
  }

  /** SQLite rows written by this instance's statements since it was constructed (`cursor.rowsWritten`, DDL included). */
  get rowsWritten(): number {
    return this.sql.rowsWritten;
  }

  /** Promotions that failed in this instance (a Run object not reached, or its answer lost); each is retried. */
  get promotionFailures(): number {
    return this.failures;
  }

  /** Lease calls this instance answered since it was constructed. */
  get leasesAnswered(): number {
    return this.leaseCalls;
  }

  /** Grants up to `want` slots as one block (none when the shard is full or runs are waiting). */
  lease(request: LeaseRequest): LeaseDecision {
    this.leaseCalls += 1;
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
    const ticket = { shard: request.shard, waiting: true } as const;
    // The same id queued already (a concurrent start of it): one entry, its place kept.
    if (this.sql.all("SELECT 1 AS present FROM waiting WHERE run_id = ?", request.runId).length > 0) return { state: "queued", ticket };
    if (this.waitingCount() >= request.queueSize) {
      this.refusals++;
      return { state: "refused" };
    }
    this.sql.run(
      "INSERT OR IGNORE INTO waiting (run_id, pipeline, shard, concurrency, lease_ms, since, retry_at) VALUES (?, ?, ?, ?, ?, ?, 0)",
      request.runId,
      request.pipeline,
      request.shard,
      request.concurrency,
      request.leaseMs,
      now,
    );
    return { state: "queued", ticket };
  }

  /** A request answered 429 without asking to queue (a sync start, a stream, a WebSocket): counted for the stats. */
  countRefusal(): void {
    this.refusals++;
  }

  /** Runs waiting here, and requests refused since this instance started. */
  stats(): ShardStats {
    return { waiting: this.waitingCount(), refusals: this.refusals };
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
    for (const id of batch.withdraw) this.withdraw(id);
    await this.promote();
  }

  /** Slots of isolates given back outside a lease call (an isolate's block ended unused). */
  async giveBack(returns: BlockReturns): Promise<void> {
    this.applyReturns(returns);
    await this.promote();
  }

  /** The retry of failed promotions: every waiting run is due, whatever is left of its backoff. */
  override async alarm(): Promise<void> {
    this.alarmArmed = false;
    await this.promote(true);
  }

  /**
   * Starts waiting runs, oldest first, while there is room. A promotion takes its slot (its own
   * block, see `promotionBlock`) before the Run object is asked. If the call fails, the run stays in
   * the queue and keeps that slot: the Run object may have admitted the run and only its answer was
   * lost, so the slot may be in use. The alarm tries again after PROMOTION_RETRY_MS with the same
   * block, and keeps trying until the run is promoted, ends (its release frees the slot), or
   * passes its deadline (`expire`). While a call is under way the alarm is set too, so a shard
   * reset during the call still comes back to the run.
   */
  private async promote(retryAll = false): Promise<void> {
    const tried = new Set<string>();
    for (;;) {
      const now = Date.now();
      this.expire(now);
      const next = this.nextToPromote(retryAll ? Number.MAX_SAFE_INTEGER : now, [...this.promoting, ...tried]);
      if (!next) break;
      const block = promotionBlock(next);
      if (!next.reserved) this.insertBlock(block, 1, now + next.lease_ms);
      tried.add(next.run_id);
      this.promoting.add(next.run_id);
      let admitted: boolean;
      try {
        await this.armAlarm();
        admitted = await this.admitWaiting(next, { shard: next.shard, block });
      } catch (error) {
        this.failures += 1;
        console.error(`edgeserve admission: could not start queued run ${next.run_id}, will retry: ${String(error)}`);
        this.sql.run("UPDATE waiting SET retry_at = ? WHERE run_id = ?", Date.now() + PROMOTION_RETRY_MS, next.run_id);
        continue;
      } finally {
        this.promoting.delete(next.run_id);
      }
      this.sql.run("DELETE FROM waiting WHERE run_id = ?", next.run_id);
      // A run that ended while it waited (cancelled, timed out) gives the slot straight back.
      if (!admitted) this.sql.run("DELETE FROM blocks WHERE id = ?", block);
    }
    await this.armAlarm();
  }

  /**
   * The oldest waiting run due by `dueBy` and not in `skip` that can be promoted now: one that
   * already holds its promotion block (an earlier attempt failed), or any while there is room.
   */
  private nextToPromote(dueBy: number, skip: string[]): (WaitingRow & { reserved: number }) | undefined {
    return this.sql.all<WaitingRow & { reserved: number }>(
      `SELECT w.*, b.id IS NOT NULL AS reserved FROM waiting AS w LEFT JOIN blocks AS b ON b.id = ${PROMOTION_BLOCK_SQL}
       WHERE w.retry_at <= ? AND w.run_id NOT IN (SELECT value FROM json_each(?)) AND (b.id IS NOT NULL OR ? < w.concurrency)
       ORDER BY w.since, w.run_id LIMIT 1`,
      dueBy,
      JSON.stringify(skip),
      this.inUse(),
    )[0];
  }

  /** Asks a waiting run's Run object to start it with `slot` (the one call a promotion makes). */
  private async admitWaiting(row: WaitingRow, slot: BlockSlot): Promise<boolean> {
    const fault = this.promotionFaults.get(row.run_id);
    const at = fault && fault.times > 0 ? fault.at : undefined;
    if (fault && at) fault.times -= 1;
    if (at === "unreachable") throw new Error(`injected fault: Run object of ${row.run_id} unreachable`);
    const admitted = await new RunClient(this.env, row.pipeline, row.run_id).admit(slot);
    if (at === "answer-lost") throw new Error(`injected fault: the answer of ${row.run_id}'s Run object was lost`);
    return admitted;
  }

  /** The alarm at the earliest retry due, and within PROMOTION_RETRY_MS while a promotion is under way; none otherwise. */
  private async armAlarm(): Promise<void> {
    const retryAt = this.sql.all<{ at: number | null }>("SELECT MIN(retry_at) AS at FROM waiting WHERE retry_at > 0")[0]!.at;
    const guardAt = this.promoting.size > 0 ? Date.now() + PROMOTION_RETRY_MS : null;
    const at = retryAt !== null && guardAt !== null ? Math.min(retryAt, guardAt) : (retryAt ?? guardAt);
    if (at !== null) {
      this.alarmArmed = true;
      await this.ctx.storage.setAlarm(at);
    } else if (this.alarmArmed) {
      this.alarmArmed = false;
      await this.ctx.storage.deleteAlarm();
    }
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
      this.sql.run("UPDATE blocks SET released = MIN(granted, released + ?) WHERE id = ?", count, block);
      this.sql.run("DELETE FROM blocks WHERE id = ? AND released >= granted", block);
      // A promotion block given back: its run was admitted (a retry was still owed an answer that
      // had been lost), so the run no longer waits.
      if (block.startsWith("w-")) this.sql.run(`DELETE FROM waiting WHERE ${PROMOTION_BLOCK_SQL} = ?`, block);
    }
  }

  /** A waiting run that ended before it got a slot leaves the queue, with the slot a failed promotion kept for it. */
  private withdraw(runId: string): void {
    this.sql.run(`DELETE FROM blocks WHERE id IN (SELECT ${PROMOTION_BLOCK_SQL} FROM waiting WHERE run_id = ?)`, runId);
    this.sql.run("DELETE FROM waiting WHERE run_id = ?", runId);
  }

  private expire(now: number): void {
    // A waiting run past its lease is past its deadline (its Run object has timed it out, if it can
    // be reached at all): no promotion is owed any more, and the slot a failed one kept is free.
    this.sql.run(`DELETE FROM blocks WHERE id IN (SELECT ${PROMOTION_BLOCK_SQL} FROM waiting WHERE since + lease_ms < ?)`, now);
    this.sql.run("DELETE FROM waiting WHERE since + lease_ms < ?", now);
    this.sql.run("DELETE FROM blocks WHERE lease_until < ?", now);
  }

  private inUse(): number {
    return this.sql.all<{ n: number | null }>("SELECT SUM(granted - released) AS n FROM blocks")[0]!.n ?? 0;
  }

  private waitingCount(): number {
    return this.sql.all<{ n: number }>("SELECT COUNT(*) AS n FROM waiting")[0]!.n;
  }

  private hasWaiting(): boolean {
    return this.sql.all("SELECT 1 FROM waiting LIMIT 1").length > 0;
  }

  private insertBlock(id: string, granted: number, leaseUntil: number): void {
    this.sql.run("INSERT INTO blocks (id, granted, released, lease_until) VALUES (?, ?, 0, ?)", id, granted, leaseUntil);
  }
}
