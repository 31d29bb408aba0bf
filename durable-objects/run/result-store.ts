/**
 * A run's results in its own SQLite: where every result is written as it arrives, in the burst
 * that produced it. A result over the row limit is split into parts (`result_parts`), so a burst
 * never writes a row SQLite would refuse. Once the run has ended, `RunResults` may move results to
 * the pipeline's KV or R2 store (and the large ones to R2 whatever the store); the row then keeps
 * only where the bytes went.
 */
import type { ResultItem } from "../../src/runs/protocol";
import type { ResultStore } from "../../src/results/result-store";
import { RESULT_PARTS_TABLE } from "./schema";
import type { Sql } from "./sql";

/** Durable Object SQLite rows hold at most 2 MB (platform §1.1); results are split well below that. */
export const RESULT_PART_BYTES = 1_000_000;

/** Where a result's bytes are: in its row, in parts, or moved to an external store. */
export type ResultLocation = "row" | "parts" | "kv" | "r2";

export interface ResultRow {
  index: number;
  contentType: string;
  location: ResultLocation;
  /** The bytes, when they are here (row or parts). */
  bytes?: Uint8Array;
}

interface StoredRow extends Record<string, SqlStorageValue> {
  idx: number;
  body: ArrayBuffer;
  content_type: string;
  location: string | null;
}

export class SqliteResultStore implements ResultStore {
  readonly kind = "sqlite";
  /** Results written by this instance, so live streams and the sync answer need not read them back. */
  private readonly recent = new Map<number, ResultItem>();
  /** Whether `recent` holds every result of the run (true for a run this instance started, until one moves). */
  private complete: boolean;

  constructor(private readonly sql: Sql, options: { fresh: boolean }) {
    this.complete = options.fresh;
  }

  /** Writes a result (synchronously: it is part of the burst that produced it). */
  append(index: number, item: ResultItem): void {
    if (item.bytes.byteLength <= RESULT_PART_BYTES) {
      this.sql.run("INSERT INTO results (idx, body, content_type) VALUES (?, ?, ?)", index, item.bytes, item.contentType);
    } else {
      this.sql.run(RESULT_PARTS_TABLE);
      this.sql.run("INSERT INTO results (idx, body, content_type, location) VALUES (?, ?, ?, 'parts')", index, new Uint8Array(), item.contentType);
      for (let offset = 0, part = 0; offset < item.bytes.byteLength; offset += RESULT_PART_BYTES, part++) {
        this.sql.run("INSERT INTO result_parts (idx, part, body) VALUES (?, ?, ?)", index, part, item.bytes.subarray(offset, offset + RESULT_PART_BYTES));
      }
    }
    this.recent.set(index, item);
  }

  /** Every result row in order, with its bytes when they are here. */
  rows(): ResultRow[] {
    if (this.complete) {
      return [...this.recent].map(([index, item]) => ({ index, contentType: item.contentType, location: "row" as const, bytes: item.bytes }));
    }
    return this.sql.all<StoredRow>("SELECT * FROM results ORDER BY idx").map((row) => this.toRow(row));
  }

  row(index: number): ResultRow | undefined {
    const row = this.sql.one<StoredRow>("SELECT * FROM results WHERE idx = ?", index);
    return row ? this.toRow(row) : undefined;
  }

  /** Records that a result's bytes now live in `location`, dropping them here. */
  moved(index: number, location: "kv" | "r2"): void {
    const row = this.row(index);
    this.sql.run("UPDATE results SET body = ?, location = ? WHERE idx = ?", new Uint8Array(), location, index);
    if (row?.location === "parts") this.sql.run("DELETE FROM result_parts WHERE idx = ?", index);
    this.recent.delete(index);
    this.complete = false;
  }

  private toRow(row: StoredRow): ResultRow {
    const location = (row.location ?? "row") as ResultLocation;
    const base = { index: row.idx, contentType: row.content_type, location };
    const cached = this.recent.get(row.idx);
    if (cached) return { ...base, bytes: cached.bytes };
    if (location === "row") return { ...base, bytes: new Uint8Array(row.body) };
    if (location === "parts") return { ...base, bytes: this.parts(row.idx) };
    return base;
  }

  private parts(index: number): Uint8Array {
    const parts = this.sql.all<{ body: ArrayBuffer }>("SELECT body FROM result_parts WHERE idx = ? ORDER BY part", index).map((p) => new Uint8Array(p.body));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let offset = 0;
    for (const part of parts) {
      out.set(part, offset);
      offset += part.byteLength;
    }
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
        if (!row.bytes) throw new Error(`result ${row.index} is not in SQLite (${row.location})`);
        return { bytes: row.bytes, contentType: row.contentType };
      });
  }

  async deleteRun(): Promise<void> {
    this.sql.run("DELETE FROM results");
    if (this.sql.one("SELECT 1 AS present FROM sqlite_master WHERE name = 'result_parts'")) this.sql.run("DELETE FROM result_parts");
    this.recent.clear();
    this.complete = false;
  }
}
