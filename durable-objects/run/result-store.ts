/**
 * A run's results in its own storage: where every result is written as it arrives, in the burst
 * that produced it — inside the run's entry while it fits, otherwise in an entry of its own, split
 * into parts when it is over the row limit (so a burst never writes a row storage would refuse).
 * Once the run has ended, `RunResults` may move results to the pipeline's KV or R2 store (and the
 * large ones to R2 whatever the store); the result then keeps only where the bytes went.
 */
import type { ResultItem } from "../../src/runs/protocol";
import type { ResultStore } from "../../src/results/result-store";
import type { ResultLocation, RunRecord, StoredResult } from "./run-record";
import { numberKey, PARTS_PREFIX, RESULTS_PREFIX, type RunStore } from "./run-store";

/** Durable Object rows hold at most 2 MB (platform §1.1); results are split well below that. */
export const RESULT_PART_BYTES = 1_000_000;
/** What an inline result's fields other than its bytes take, roughly, against the inline budget. */
const RESULT_OVERHEAD_BYTES = 64;

export type { ResultLocation };

export interface ResultRow {
  index: number;
  contentType: string;
  location: ResultLocation;
  /** The bytes, when they are here (row or parts). */
  bytes?: Uint8Array;
}

export class LocalResultStore implements ResultStore {
  readonly kind = "sqlite";
  /** Parts read back already (large results are read whole, once). */
  private readonly assembled = new Map<number, Uint8Array>();

  constructor(
    private readonly store: RunStore,
    private readonly record: RunRecord,
  ) {}

  /** Writes a result (synchronously: it is part of the burst that produced it). */
  append(index: number, item: ResultItem): void {
    const size = item.bytes.byteLength;
    const result: StoredResult = { index, contentType: item.contentType, location: "row", bytes: exactCopy(item.bytes) };
    if (size <= RESULT_PART_BYTES && this.record.fitsInline(size + RESULT_OVERHEAD_BYTES)) {
      this.record.inline.results.push(result);
      return;
    }
    // Entries of their own are listed (and discarded) only once the run entry says some exist.
    this.record.inline.spilled = true;
    if (size <= RESULT_PART_BYTES) {
      this.store.put(numberKey(RESULTS_PREFIX, index), result);
      return;
    }
    let parts = 0;
    for (let offset = 0; offset < size; offset += RESULT_PART_BYTES, parts++) {
      this.store.put(partKey(index, parts), item.bytes.slice(offset, offset + RESULT_PART_BYTES));
    }
    this.store.put<StoredResult>(numberKey(RESULTS_PREFIX, index), { index, contentType: item.contentType, location: "parts", parts });
    this.assembled.set(index, item.bytes);
  }

  /** Every result in order, with its bytes when they are here. */
  rows(): ResultRow[] {
    const stored = this.record.inline.spilled ? this.store.list<StoredResult>(RESULTS_PREFIX).map(([, r]) => r) : [];
    return [...this.record.inline.results, ...stored].sort((a, b) => a.index - b.index).map((r) => this.toRow(r));
  }

  row(index: number): ResultRow | undefined {
    const inline = this.record.inline.results.find((r) => r.index === index);
    const stored = inline ?? this.store.get<StoredResult>(numberKey(RESULTS_PREFIX, index));
    return stored ? this.toRow(stored) : undefined;
  }

  /**
   * Records that results' bytes now live in another store, dropping them here. Inline results
   * change the run's entry, which is written once for all of them.
   */
  moved(moves: readonly { index: number; location: "kv" | "r2" }[]): void {
    let inlineChanged = false;
    for (const { index, location } of moves) {
      const inline = this.record.inline.results.find((r) => r.index === index);
      if (inline) {
        inline.location = location;
        delete inline.bytes;
        inlineChanged = true;
        continue;
      }
      const key = numberKey(RESULTS_PREFIX, index);
      const stored = this.store.get<StoredResult>(key);
      if (!stored) continue;
      for (let part = 0; part < (stored.parts ?? 0); part++) this.store.delete(partKey(index, part));
      this.store.put<StoredResult>(key, { index, contentType: stored.contentType, location });
      this.assembled.delete(index);
    }
    if (inlineChanged) this.record.save(this.store);
  }

  private toRow(stored: StoredResult): ResultRow {
    const base = { index: stored.index, contentType: stored.contentType, location: stored.location };
    if (stored.location === "row" && stored.bytes) return { ...base, bytes: stored.bytes };
    if (stored.location === "parts") return { ...base, bytes: this.parts(stored.index, stored.parts ?? 0) };
    return base;
  }

  private parts(index: number, count: number): Uint8Array {
    const cached = this.assembled.get(index);
    if (cached) return cached;
    const parts: Uint8Array[] = [];
    for (let part = 0; part < count; part++) {
      const bytes = this.store.get<Uint8Array>(partKey(index, part));
      if (!bytes) throw new Error(`part ${part} of result ${index} is missing`);
      parts.push(bytes);
    }
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
    this.assembled.set(index, out);
    return out;
  }

  // The ResultStore contract (one run per object, so the run reference is not needed).

  async put(_run: unknown, index: number, item: ResultItem): Promise<void> {
    this.append(index, item);
  }

  async get(_run: unknown, index: number): Promise<ResultItem | undefined> {
    const row = this.row(index);
    return row?.bytes ? { bytes: row.bytes, contentType: row.contentType } : undefined;
  }

  async list(_run: unknown, count: number): Promise<ResultItem[]> {
    return this.rows()
      .slice(0, count)
      .map((row) => {
        if (!row.bytes) throw new Error(`result ${row.index} is not in the run's storage (${row.location})`);
        return { bytes: row.bytes, contentType: row.contentType };
      });
  }

  async deleteRun(_run?: unknown, _count?: number): Promise<void> {
    this.discard();
    this.record.save(this.store);
  }

  /** Deletes every result here; the run entry's change is written by the caller's save. */
  discard(): void {
    if (this.record.inline.spilled) for (const prefix of [RESULTS_PREFIX, PARTS_PREFIX]) for (const [key] of this.store.list(prefix)) this.store.delete(key);
    this.record.inline.results.length = 0;
    this.assembled.clear();
  }
}

/** The entry of a large result's `part`th part. */
export function partKey(index: number, part: number): string {
  return `${numberKey(PARTS_PREFIX, index)}:${String(part).padStart(6, "0")}`;
}

/**
 * The bytes with a buffer of their own: storage serialises a view's whole buffer, so a view into
 * a larger buffer would store (and be limited by) all of it.
 */
function exactCopy(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}
