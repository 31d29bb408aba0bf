/**
 * The SQL tables runs were stored in before the Run object kept entries (../run-store.ts), with
 * their numbered migrations. Kept only so that a run stored that way, by an earlier deploy, is
 * brought up to the last table version and converted (import-sql-run.ts). Never edit a shipped
 * migration.
 */
import type { Sql } from "../../sql";

/** A migration: SQL statements, or a function for one that depends on what the object holds. */
export type Migration = readonly string[] | ((sql: Sql) => void);

const RUN_COLUMNS_V1 = `
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  schema_version INTEGER NOT NULL,
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
  rows_written INTEGER NOT NULL,
  index_pending INTEGER NOT NULL DEFAULT 0,
  capture TEXT NOT NULL,
  admission TEXT`;
const EVENTS_TABLE = `CREATE TABLE events (first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL, body TEXT NOT NULL)`;
const RESULTS_TABLE = `CREATE TABLE results (idx INTEGER PRIMARY KEY, body BLOB NOT NULL, content_type TEXT NOT NULL)`;

const WORK_COLUMNS_V1 = `
  key TEXT PRIMARY KEY,
  step TEXT NOT NULL,
  from_step TEXT,
  message TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  state TEXT NOT NULL`;
/** The work table as version 1 created it (kept to test migration 2 against). */
export const WORK_TABLE_V1 = `CREATE TABLE IF NOT EXISTS work (${WORK_COLUMNS_V1}\n) WITHOUT ROWID`;

/**
 * How each version came about. Migration N is `MIGRATIONS[N - 1]`; `migrate` applies the ones an
 * existing run has not seen. Never edit a shipped migration; append a new one.
 *
 * 1. `run`: one row, the run itself (status, timings, per-step states as JSON). `events`: the
 *    event log, several events per row (one row per burst of progress, to keep the rows written
 *    per run low); `first_seq`..`last_seq` number the events inside. `results`: the messages that
 *    reached the sink, in arrival order.
 * 2. Queued and remote steps: `run.payloads_in_r2` marks runs that offloaded stage inputs to R2;
 *    `work.lease_until` and `work.sends` track a message sent out of the object (or, for one not
 *    sent yet, when it may be); `work.token` is a delayed message's cancellation token (in a work
 *    table that exists already; `work` is created on demand, see below).
 * 3. Result stores: `results.location` says where a result's bytes are (NULL: in the row;
 *    `parts`: in `result_parts`, for results over the row limit; `kv` / `r2`: in that store, once
 *    the run has ended).
 */
export const MIGRATIONS: readonly Migration[] = [
  [`CREATE TABLE run (${RUN_COLUMNS_V1}\n)`, EVENTS_TABLE, RESULTS_TABLE],
  (sql) => {
    sql.run("ALTER TABLE run ADD COLUMN payloads_in_r2 INTEGER NOT NULL DEFAULT 0");
    if (!hasWorkTable(sql)) return;
    sql.run("ALTER TABLE work ADD COLUMN lease_until INTEGER");
    sql.run("ALTER TABLE work ADD COLUMN sends INTEGER NOT NULL DEFAULT 0");
    sql.run("ALTER TABLE work ADD COLUMN token TEXT");
  },
  ["ALTER TABLE results ADD COLUMN location TEXT"],
];

/** Whether this object holds a run (without creating anything). */
export function hasSchema(sql: Sql): boolean {
  return sql.one("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'run'") !== undefined;
}

export function hasWorkTable(sql: Sql): boolean {
  return sql.one("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'work'") !== undefined;
}

/** The last table version. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Applies the migrations an existing run has not seen yet, in order, and records the version. */
export function migrate(sql: Sql): void {
  const current = sql.one<{ schema_version: number }>("SELECT schema_version FROM run WHERE singleton = 1")?.schema_version;
  if (current === undefined || current >= SCHEMA_VERSION) return;
  for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
    const migration = MIGRATIONS[version - 1];
    if (migration) apply(sql, migration);
    sql.run("UPDATE run SET schema_version = ? WHERE singleton = 1", version);
  }
}

export function apply(sql: Sql, migration: Migration): void {
  if (typeof migration === "function") migration(sql);
  else for (const statement of migration) sql.run(statement);
}
