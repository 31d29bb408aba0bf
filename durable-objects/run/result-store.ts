/**
 * Where a run's results live. The interface is small so other stores (KV, R2) can stand in for
 * SQLite; the Run object only appends and reads back in order.
 */
import type { ResultItem } from "../../src/runs/protocol";
import type { Sql } from "./sql";

export interface ResultStore {
  append(index: number, item: ResultItem): void;
  get(index: number): ResultItem | undefined;
  list(): ResultItem[];
}

/** The default store: the Run object's own SQLite, one row per result. */
export class SqliteResultStore implements ResultStore {
  /** Results written by this instance, so live streams and the sync answer need not read them back. */
  private readonly recent = new Map<number, ResultItem>();
  /** Whether `recent` holds every result of the run (true for a run this instance started). */
  private complete: boolean;

  constructor(private readonly sql: Sql, options: { fresh: boolean }) {
    this.complete = options.fresh;
  }

  append(index: number, item: ResultItem): void {
    this.sql.run("INSERT INTO results (idx, body, content_type) VALUES (?, ?, ?)", index, item.bytes, item.contentType);
    this.recent.set(index, item);
  }

  get(index: number): ResultItem | undefined {
    const cached = this.recent.get(index);
    if (cached) return cached;
    const row = this.sql.one<{ body: ArrayBuffer; content_type: string }>(
      "SELECT body, content_type FROM results WHERE idx = ?",
      index,
    );
    return row ? { bytes: new Uint8Array(row.body), contentType: row.content_type } : undefined;
  }

  list(): ResultItem[] {
    if (this.complete) return [...this.recent.values()];
    return this.sql
      .all<{ body: ArrayBuffer; content_type: string }>("SELECT body, content_type FROM results ORDER BY idx")
      .map((row) => ({ bytes: new Uint8Array(row.body), contentType: row.content_type }));
  }
}
