/**
 * The Run object's tables, created by numbered migrations and tracked by a version row.
 *
 * The schema is created when a run starts, never when a read finds nothing: probing an unknown run
 * id must leave no storage behind.
 */
import type { Sql } from "./sql";

/**
 * Migration N is `MIGRATIONS[N - 1]`. Never edit a shipped migration; append a new one.
 *
 * - `run`: one row, the run itself (status, timings, per-step states as JSON).
 * - `work`: the messages in flight (pending or running); the run completes when it is empty.
 * - `events`: the event log, several events per row (one row per burst of progress, to keep the
 *   rows written per run low); `first_seq`..`last_seq` number the events inside.
 * - `results`: the messages that reached the sink, in arrival order.
 */
const MIGRATIONS: readonly (readonly string[])[] = [
  [
    `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID`,
    `CREATE TABLE run (
      singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
      id TEXT NOT NULL,
      pipeline TEXT NOT NULL,
      status TEXT NOT NULL,
      surface TEXT NOT NULL,
      run_name TEXT,
      headers TEXT NOT NULL,
      input TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      deadline_at INTEGER NOT NULL,
      finished_at INTEGER,
      expires_at INTEGER,
      next_seq INTEGER NOT NULL,
      next_message INTEGER NOT NULL,
      result_count INTEGER NOT NULL,
      error TEXT,
      steps TEXT NOT NULL,
      rows_written INTEGER NOT NULL
    )`,
    `CREATE TABLE work (
      key TEXT PRIMARY KEY,
      step TEXT NOT NULL,
      from_step TEXT,
      message TEXT NOT NULL,
      attempt INTEGER NOT NULL,
      state TEXT NOT NULL
    ) WITHOUT ROWID`,
    `CREATE TABLE events (first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, body TEXT NOT NULL)`,
    `CREATE TABLE results (idx INTEGER PRIMARY KEY, body BLOB NOT NULL, content_type TEXT NOT NULL)`,
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/** Whether this object has ever held a run (without creating anything). */
export function hasSchema(sql: Sql): boolean {
  return sql.one("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'meta'") !== undefined;
}

/** Applies the migrations this object has not seen yet, in order, each with its version bump. */
export function migrate(sql: Sql): void {
  const current = hasSchema(sql)
    ? Number(sql.one<{ value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")?.value ?? 0)
    : 0;
  for (let version = current + 1; version <= MIGRATIONS.length; version++) {
    for (const statement of MIGRATIONS[version - 1] ?? []) sql.run(statement);
    sql.run(
      "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      String(version),
    );
  }
}
