/**
 * One pipeline's admission slots in this isolate (`PipelineSlots`): each isolate leases slots
 * from the pipeline's AdmissionObject shards in blocks and hands them out locally, so a run pays no
 * Durable Object round trip for its slot while there is room.
 * - A block is used for `BLOCK_WINDOW_MS`; after that its unused slots go back to the shard (with
 *   the isolate's next lease call, or from a `waitUntil` timer, whichever comes first).
 * - A sync run whose answer the caller waited for gives its slot back to the block right here
 *   (the Run object says so in its answer), so a busy isolate recycles its blocks' slots for the
 *   whole window; a duplicate start gives its slot back the same way, so the shard never sees it.
 * - Only when every block in its window is used up does a request wait for the shard (one round
 *   trip per block, shared by the requests that wait meanwhile). An isolate holds as many blocks as
 *   its runs in flight need: one block per isolate made an isolate with more runs in flight than a
 *   block holds lease again every few runs.
 */
import type { BlockReturns, BlockSlot, ShardStats } from "../admission/protocol";
import type { Pipeline } from "../pipeline/graph";
import { runTimeoutSeconds } from "../runs/run-timeout";
import type { Settings } from "../settings";

/** How long an isolate hands out the slots of one block before the rest go back. */
export const BLOCK_WINDOW_MS = 2_000;
/** Extra time a block's lease outlives its runs' deadlines, so a slow release never double-books. */
const LEASE_MARGIN_MS = 60_000;
/** A block holds at most this share of a shard's slots, so idle isolates strand little room. */
const BLOCK_SHARE_DIVISOR = 4;

/** The name of a pipeline's `k`-th admission shard. */
function admissionShard(pipeline: string, k: number): string {
  return `${pipeline}#${k}`;
}

/** What schedules background work past the response (the request's `executionCtx.waitUntil`). */
export type WaitUntil = (promise: Promise<unknown>) => void;

interface Block {
  shard: string;
  id: string;
  /** Slots not handed out yet. */
  free: number;
  usableUntil: number;
}

/** What a lease call came to: a block, no room in any shard, or an error to throw. */
type LeaseOutcome = "leased" | "full" | { error: unknown };

/** A lease call in flight, which requests that find every block used up wait for together. */
interface LeaseCall {
  /** Set when the call has ended. */
  outcome?: LeaseOutcome;
  /** After this, a request leases for itself rather than wait (a call stuck on its shard). */
  trustedUntil: number;
}

/** How long requests wait for another request's lease call before leasing for themselves. */
const LEASE_WAIT_MS = 10_000;
/** How often a waiting request looks whether that call has ended. */
const LEASE_POLL_MS = 2;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits for another request's lease call to end, on timers of this request's own. Awaiting a
 * promise the other request made, or one it settles, would go on in that request's I/O context:
 * the Workers runtime then refuses this request's response ("Cannot perform I/O on behalf of a
 * different request"), or never runs the rest of it.
 */
async function waitForLease(call: LeaseCall): Promise<LeaseOutcome | "gave up"> {
  while (call.outcome === undefined && Date.now() < call.trustedUntil) {
    await sleep(LEASE_POLL_MS);
  }
  return call.outcome ?? "gave up";
}

/** One pipeline's blocks in this isolate, and the slots owed back to each shard. */
export class PipelineSlots {
  /** Blocks in their window, by id: a busy isolate holds as many as its runs in flight need. */
  private readonly blocks = new Map<string, Block>();
  /** The lease call in flight, which requests that find every block used up wait for together. */
  private leaseCall: LeaseCall | undefined;
  private readonly owed = new Map<string, BlockReturns>();
  private flushScheduled = false;

  constructor(
    private readonly namespace: Env["ADMISSION"],
    private readonly pipeline: Pipeline,
    private readonly settings: Settings,
    /** The pipeline's whole concurrency limit and queue limit, shared equally by its shards. */
    private readonly limits: { maxConcurrency: number; maxQueueSize: number },
  ) {}

  /**
   * A slot from a block in its window, or from a new block leased from a shard; null when the
   * pipeline is full. Requests that find every block used up wait for one lease call together, so
   * a burst leases one block rather than one each.
   */
  async take(waitUntil: WaitUntil, runTimeout: number): Promise<BlockSlot | null> {
    // A run allowed longer than the pipeline's own timeout needs a lease of its own length.
    if (runTimeout > runTimeoutSeconds(this.pipeline, this.settings)) return this.leaseOwn(runTimeout);
    for (;;) {
      const slot = this.freeSlot();
      if (slot) return slot;
      const call = this.leaseCall;
      const outcome = call && Date.now() < call.trustedUntil ? await waitForLease(call) : await this.leaseForAll(waitUntil, runTimeout);
      // No shard had room; a run of this isolate may have given its slot back meanwhile.
      if (outcome === "full") return this.freeSlot() ?? null;
      if (typeof outcome === "object") throw outcome.error;
    }
  }

  /** A free slot of a block in its window, taken; blocks past their window are retired first. */
  private freeSlot(): BlockSlot | undefined {
    this.retireEnded();
    for (const block of this.blocks.values()) {
      if (block.free > 0) {
        block.free -= 1;
        return { shard: block.shard, block: block.id };
      }
    }
    return undefined;
  }

  /**
   * Leases a block for this request and the requests that find every block used up meanwhile. The
   * call goes on in this request's `waitUntil`, so it ends even if this request's client goes away.
   */
  private leaseForAll(waitUntil: WaitUntil, runTimeout: number): Promise<LeaseOutcome> {
    const call: LeaseCall = { trustedUntil: Date.now() + LEASE_WAIT_MS };
    this.leaseCall = call;
    const leasing = this.leaseBlock(waitUntil, runTimeout)
      .then(
        (leased): LeaseOutcome => (leased ? "leased" : "full"),
        (error: unknown): LeaseOutcome => ({ error }),
      )
      .then((outcome) => {
        call.outcome = outcome;
        if (this.leaseCall === call) this.leaseCall = undefined;
        return outcome;
      });
    waitUntil(leasing);
    return leasing;
  }

  /** Leases a new block, trying each shard once; false when none has room. */
  private async leaseBlock(waitUntil: WaitUntil, runTimeout: number): Promise<boolean> {
    const want = Math.max(1, Math.floor(this.share().concurrency / BLOCK_SHARE_DIVISOR));
    for (const shard of this.shardsInRandomOrder()) {
      const decision = await this.lease(shard, want, runTimeout);
      if (decision.granted === 0) continue;
      this.blocks.set(decision.block, { shard, id: decision.block, free: decision.granted, usableUntil: Date.now() + BLOCK_WINDOW_MS });
      this.flushWhenWindowEnds(waitUntil);
      return true;
    }
    return false;
  }

  /** A single slot leased for one run with a longer timeout than its pipeline's. */
  private async leaseOwn(runTimeout: number): Promise<BlockSlot | null> {
    for (const shard of this.shardsInRandomOrder()) {
      const decision = await this.lease(shard, 1, runTimeout);
      if (decision.granted > 0) return { shard, block: decision.block };
    }
    return null;
  }

  private lease(shard: string, want: number, runTimeout: number) {
    const returns = this.takeOwed(shard);
    return this.stub(shard).lease({
      shard,
      pipeline: this.pipeline.name,
      want,
      concurrency: this.share().concurrency,
      leaseMs: BLOCK_WINDOW_MS + runTimeout * 1000 + LEASE_MARGIN_MS,
      ...(returns ? { returns } : {}),
    });
  }

  /** A slot that served no run (a duplicate) or whose sync run ended while its caller waited. */
  giveBack(slot: BlockSlot, waitUntil: WaitUntil): void {
    const block = this.blocks.get(slot.block);
    if (block && Date.now() < block.usableUntil) {
      block.free += 1;
      return;
    }
    this.owe(slot.shard, slot.block, 1);
    this.scheduleFlush(waitUntil);
  }

  /** Puts a queued async run in a shard's queue (or runs it, if room appeared meanwhile). */
  async enqueue(runId: string, runTimeout: number) {
    const shard = this.pickShard();
    const share = this.share();
    return this.stub(shard).enqueue({
      shard,
      pipeline: this.pipeline.name,
      runId,
      concurrency: share.concurrency,
      queueSize: share.queueSize,
      leaseMs: runTimeout * 1000 + LEASE_MARGIN_MS,
    });
  }

  /** Blocks past their window give their free slots back (their runs' slots follow as they end). */
  private retireEnded(): void {
    const now = Date.now();
    for (const block of this.blocks.values()) if (now >= block.usableUntil) this.retire(block);
  }

  private retire(block: Block): void {
    if (block.free > 0) this.owe(block.shard, block.id, block.free);
    block.free = 0;
    this.blocks.delete(block.id);
  }

  private owe(shard: string, block: string, count: number): void {
    const returns = this.owed.get(shard) ?? {};
    returns[block] = (returns[block] ?? 0) + count;
    this.owed.set(shard, returns);
  }

  private takeOwed(shard: string): BlockReturns | undefined {
    const returns = this.owed.get(shard);
    this.owed.delete(shard);
    return returns;
  }

  /**
   * Gives owed slots back on the next turn of the event loop, in the background of the current
   * request, so slots given back together go in one call (one flush at a time).
   */
  private scheduleFlush(waitUntil: WaitUntil): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    waitUntil(
      sleep(0).then(() => {
        this.flushScheduled = false;
        return this.flush();
      }),
    );
  }

  /**
   * A new block's unused slots go back when its window ends, even if no request comes. Each block
   * has its own timer: one flush for several blocks would leave the later ones' slots unused until
   * their lease ended, minutes later, if the isolate went quiet.
   */
  private flushWhenWindowEnds(waitUntil: WaitUntil): void {
    waitUntil(sleep(BLOCK_WINDOW_MS).then(() => this.flush()));
  }

  /** Blocks past their window are retired, and every slot owed goes back to its shard. */
  private async flush(): Promise<void> {
    this.retireEnded();
    for (const shard of [...this.owed.keys()]) {
      const returns = this.takeOwed(shard);
      if (!returns) continue;
      try {
        await this.stub(shard).giveBack(returns);
      } catch (error) {
        // Kept for the next lease call; the shard's lease ends them anyway.
        console.error(`edgeserve admission: giving slots back to ${shard} failed: ${String(error)}`);
        for (const [block, count] of Object.entries(returns)) this.owe(shard, block, count);
      }
    }
  }

  private share() {
    const shards = this.settings.EDGESERVE_ADMISSION_SHARDS;
    return { concurrency: Math.ceil(this.limits.maxConcurrency / shards), queueSize: Math.ceil(this.limits.maxQueueSize / shards) };
  }

  /** A 429 this isolate answered for the pipeline, counted by one of its shards (for the stats). */
  countRefusal(waitUntil: WaitUntil): void {
    const counted = this.stub(this.pickShard()).countRefusal();
    waitUntil(counted.catch((error: unknown) => console.error(`edgeserve admission: counting a refusal failed: ${String(error)}`)));
  }

  /** Runs waiting in the pipeline's queue, and requests refused, over all its shards. */
  async stats(): Promise<ShardStats> {
    const shards = Array.from({ length: this.settings.EDGESERVE_ADMISSION_SHARDS }, (_, k) => admissionShard(this.pipeline.name, k));
    const each = await Promise.all(shards.map((shard) => this.stub(shard).stats()));
    return each.reduce((sum, s) => ({ waiting: sum.waiting + s.waiting, refusals: sum.refusals + s.refusals }), { waiting: 0, refusals: 0 });
  }

  private pickShard(): string {
    return admissionShard(this.pipeline.name, Math.floor(Math.random() * this.settings.EDGESERVE_ADMISSION_SHARDS));
  }

  /** Every shard once, starting at a random one (so isolates spread their leases). */
  private shardsInRandomOrder(): string[] {
    const count = this.settings.EDGESERVE_ADMISSION_SHARDS;
    const first = Math.floor(Math.random() * count);
    return Array.from({ length: count }, (_, i) => admissionShard(this.pipeline.name, (first + i) % count));
  }

  private stub(shard: string) {
    return this.namespace.get(this.namespace.idFromName(shard));
  }
}
