/**
 * A door to a Durable Object's SQLite (the function objects' state, and runs stored in tables by
 * earlier deploys): bound parameters only, failures wrapped with the query, and a running count
 * of rows written (the unit Cloudflare bills for Durable Object storage).
 */

export type SqlValue = string | number | null | ArrayBuffer | Uint8Array;

export class SqlError extends Error {
  override readonly name = "SqlError";
  constructor(
    readonly query: string,
    cause: unknown,
  ) {
    super(`SQL failed: ${query.replace(/\s+/g, " ").slice(0, 200)}`, { cause });
  }
}

export class Sql {
  /** Rows written by this instance since it was constructed; persisted by the run record. */
  rowsWritten = 0;

  constructor(private readonly storage: SqlStorage) {}

  /** Runs a statement and returns all its rows. */
  all<Row extends Record<string, SqlStorageValue>>(query: string, ...params: SqlValue[]): Row[] {
    try {
      const cursor = this.storage.exec<Row>(query, ...params);
      const rows = cursor.toArray();
      this.rowsWritten += cursor.rowsWritten;
      return rows;
    } catch (error) {
      throw new SqlError(query, error);
    }
  }

  one<Row extends Record<string, SqlStorageValue>>(query: string, ...params: SqlValue[]): Row | undefined {
    return this.all<Row>(query, ...params)[0];
  }

  run(query: string, ...params: SqlValue[]): void {
    this.all(query, ...params);
  }
}
