/**
 * A run's results wherever they are: written to the run's storage as they arrive, then, once the
 * run has ended, moved to the pipeline's result store (KV or R2), with results over the row
 * limit moved to R2 whatever the store. Reads look each result up where its row says it is.
 */
import type { ResultStoreKind } from "../../src/pipeline/definition";
import { KV_VALUE_MAX_BYTES, type ResultStore, type RunRef } from "../../src/results/result-store";
import type { ResultItem } from "../../src/runs/protocol";
import { RESULT_PART_BYTES, type LocalResultStore, type ResultRow } from "./result-store";

/** Copies to KV or R2 in flight at once while results move (a fan-out can leave thousands). */
const MOVE_CONCURRENCY = 32;

export interface ExternalStores {
  kv: ResultStore;
  r2: ResultStore;
}

export class RunResults {
  /** Results read back from KV or R2 by this instance. */
  private readonly fetched = new Map<number, ResultItem>();
  /** Results gone from storage, kept in memory for the sync answer being awaited (`holdForAnswer`). */
  private held: ResultItem[] | undefined;

  constructor(
    private readonly local: LocalResultStore,
    private readonly kind: ResultStoreKind,
    private readonly external: ExternalStores,
    private readonly run: RunRef,
  ) {}

  append(index: number, item: ResultItem): void {
    this.local.append(index, item);
  }

  /**
   * The results leave storage in the burst that ends the run and stay in memory until the waiting
   * sync caller has its answer (`releaseHeld`): the run's capture policy keeps no payloads.
   */
  holdForAnswer(): void {
    this.held = this.listNow();
    this.local.discard();
    this.fetched.clear();
  }

  /** The answer has been taken: nothing of the results is left. */
  releaseHeld(): void {
    this.held = undefined;
  }

  get holdsAnswer(): boolean {
    return this.held !== undefined;
  }

  /** A result if it can be read without I/O (here, or fetched already). */
  getNow(index: number): ResultItem | undefined {
    if (this.held) return this.held[index];
    const cached = this.fetched.get(index);
    if (cached) return cached;
    const row = this.local.row(index);
    return row?.bytes ? { bytes: row.bytes, contentType: row.contentType } : undefined;
  }

  /** Every result that can be read without I/O, in order (all of them after `prefetch`). */
  listNow(): ResultItem[] {
    if (this.held) return this.held;
    return this.local.rows().flatMap((row) => {
      const item = row.bytes ? { bytes: row.bytes, contentType: row.contentType } : this.fetched.get(row.index);
      return item ? [item] : [];
    });
  }

  /** Reads the results that were moved to KV or R2, so `getNow` and `listNow` have them all. */
  async prefetch(): Promise<void> {
    await Promise.all(
      this.local.rows().map(async (row) => {
        if (row.bytes || this.fetched.has(row.index) || (row.location !== "kv" && row.location !== "r2")) return;
        const item = await this.external[row.location].get(this.run, row.index);
        if (!item) throw new Error(`result ${row.index} of run ${this.run.runId} is missing from ${row.location}`);
        this.fetched.set(row.index, item);
      }),
    );
  }

  async list(): Promise<ResultItem[]> {
    await this.prefetch();
    return this.listNow();
  }

  /** Where a result still here should go once the run has ended, or undefined to stay. */
  private destination(row: ResultRow): "kv" | "r2" | undefined {
    if (!row.bytes || (row.location !== "row" && row.location !== "parts")) return undefined;
    const size = row.bytes.byteLength;
    if (this.kind === "r2") return "r2";
    if (this.kind === "kv") return size > KV_VALUE_MAX_BYTES ? "r2" : "kv";
    return size > RESULT_PART_BYTES ? "r2" : undefined;
  }

  needsMove(): boolean {
    return this.local.rows().some((row) => this.destination(row) !== undefined);
  }

  /**
   * Moves what should leave the run's storage, `MOVE_CONCURRENCY` copies at a time; a result is
   * marked moved only after its copy is stored.
   */
  async move(): Promise<number> {
    const pending = this.local.rows().flatMap((row) => {
      const to = this.destination(row);
      return to && row.bytes ? [{ index: row.index, to, item: { bytes: row.bytes, contentType: row.contentType } }] : [];
    });
    const moves: { index: number; location: "kv" | "r2" }[] = [];
    try {
      for (let start = 0; start < pending.length; start += MOVE_CONCURRENCY) {
        const batch = pending.slice(start, start + MOVE_CONCURRENCY);
        const copied = await Promise.allSettled(batch.map(({ index, to, item }) => this.external[to].put(this.run, index, item)));
        let failure: unknown;
        for (const [n, outcome] of copied.entries()) {
          const { index, to, item } = batch[n]!;
          if (outcome.status === "rejected") failure ??= outcome.reason;
          else {
            this.fetched.set(index, item);
            moves.push({ index, location: to });
          }
        }
        if (failure !== undefined) throw failure;
      }
    } finally {
      // What was copied before a failure is recorded, so a retry does not copy it again.
      if (moves.length > 0) this.local.moved(moves);
    }
    return moves.length;
  }

  /** Deletes the copies in KV and R2 (the run's retention has ended). */
  async deleteMoved(): Promise<void> {
    const rows = this.local.rows();
    for (const where of ["kv", "r2"] as const) {
      if (rows.some((row) => row.location === where)) await this.external[where].deleteRun(this.run, rows.length);
    }
  }
}
