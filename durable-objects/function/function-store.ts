/**
 * A function address's SQLite: its registered state (specs and values, with expiration), the
 * mailbox of invocations waiting for their batch, the outbox of batch outcomes not yet delivered
 * to their runs, the keys of invocations already settled, and the runs that told the address they
 * ended. The last two are kept until their run's deadline, after which an invocation of the run is
 * not taken anyway. State persists across runs, as StateFun's does.
 */
import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { TypedValueSchema, type TypedValue } from "../../src/remote/proto/io/statefun/request_reply_pb";
import { remoteCallSchema, type FunctionAddress, type RemoteCall, type RemoteInvocation, type RemoteReport } from "../../src/remote/protocol";
import { Sql } from "../sql";

const TABLES = [
  `CREATE TABLE IF NOT EXISTS state (
    name TEXT PRIMARY KEY,
    typename TEXT NOT NULL,
    expire_mode INTEGER NOT NULL,
    expire_after_ms INTEGER NOT NULL,
    value BLOB,
    expires_at INTEGER
  ) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS mailbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL,
    run_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    step TEXT NOT NULL,
    argument BLOB NOT NULL,
    caller TEXT,
    call TEXT NOT NULL,
    deadline_at INTEGER
  )`,
  `CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    keys TEXT NOT NULL,
    run_id TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    report TEXT NOT NULL
  ) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS settled_keys (
    key TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  ) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS ended_runs (
    run_id TEXT PRIMARY KEY,
    until INTEGER NOT NULL
  ) WITHOUT ROWID`,
];

/** Columns added to a table after its first version, for objects that created it before them. */
const ADDED_COLUMNS = [{ table: "mailbox", column: "deadline_at", type: "INTEGER" }];

/** How long a settled key is kept when its invocation did not carry its run's deadline: the longest run timeout. */
const SETTLED_KEY_FALLBACK_MS = 86_400_000;

/** StateFun's expiration modes (`ExpirationSpec.ExpireMode`). */
export const EXPIRE = { NONE: 0, AFTER_WRITE: 1, AFTER_INVOKE: 2 } as const;

export interface StateSpec {
  name: string;
  typename: string;
  expireMode: number;
  expireAfterMs: number;
}

export interface MailboxEntry {
  seq: number;
  key: string;
  address: FunctionAddress;
  runId: string;
  pipeline: string;
  step: string;
  argument: Uint8Array;
  caller: string | null;
  call: RemoteCall;
  /** The run's deadline (null for an invocation stored before invocations carried it). */
  deadlineAt: number | null;
}

interface StateRow extends Record<string, SqlStorageValue> {
  name: string;
  typename: string;
  expire_mode: number;
  expire_after_ms: number;
  value: ArrayBuffer | null;
  expires_at: number | null;
}

export interface MailboxRow extends Record<string, SqlStorageValue> {
  seq: number;
  key: string;
  address: string;
  run_id: string;
  pipeline: string;
  step: string;
  argument: ArrayBuffer;
  caller: string | null;
  call: string;
  deadline_at: number | null;
}

export class FunctionStore {
  readonly sql: Sql;
  private ready = false;

  constructor(storage: SqlStorage) {
    this.sql = new Sql(storage);
  }

  /** Tables are created on the first write, so looking at an unused address leaves nothing behind. */
  private ensure(): void {
    if (this.ready) return;
    for (const statement of TABLES) this.sql.run(statement);
    this.upgrade();
    this.ready = true;
  }

  private exists(): boolean {
    if (this.ready) return true;
    const found = this.sql.one("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'mailbox'") !== undefined;
    if (found) this.ensure();
    return found;
  }

  /** Tables and columns added since an object created its tables. */
  private upgrade(): void {
    for (const { table, column, type } of ADDED_COLUMNS) {
      if (this.sql.one("SELECT 1 AS present FROM pragma_table_info(?) WHERE name = ?", table, column)) continue;
      this.sql.run(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
  }

  // --- mailbox -------------------------------------------------------------------------------

  /** Whether an invocation with this key is waiting, or was settled (its outcome delivered or not) while its run may still send it. */
  knows(key: string, now: number): boolean {
    if (!this.exists()) return false;
    if (this.sql.one("SELECT 1 AS present FROM mailbox WHERE key = ?", key)) return true;
    return this.sql.one("SELECT 1 AS present FROM settled_keys WHERE key = ? AND until > ?", key, now) !== undefined;
  }

  queued(): number {
    if (!this.exists()) return 0;
    return this.sql.one<{ n: number }>("SELECT COUNT(*) AS n FROM mailbox")?.n ?? 0;
  }

  enqueue(invocation: RemoteInvocation): void {
    this.ensure();
    this.sql.run(
      "INSERT INTO mailbox (key, address, run_id, pipeline, step, argument, caller, call, deadline_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      invocation.key,
      JSON.stringify(invocation.address),
      invocation.runId,
      invocation.pipeline,
      invocation.step,
      invocation.argument,
      invocation.caller ?? null,
      JSON.stringify(invocation.call),
      invocation.deadlineAt,
    );
  }

  /** Every invocation waiting, oldest first. */
  waiting(): MailboxEntry[] {
    if (!this.exists()) return [];
    return this.sql.all<MailboxRow>("SELECT * FROM mailbox ORDER BY seq").map(mailboxEntry);
  }

  /** The next batch: the oldest invocations that belong to the same run and step (FIFO per address). */
  nextBatch(): MailboxEntry[] {
    if (!this.exists()) return [];
    const rows = this.sql.all<MailboxRow>("SELECT * FROM mailbox ORDER BY seq");
    const first = rows[0];
    if (!first) return [];
    const batch: MailboxEntry[] = [];
    for (const row of rows) {
      if (row.run_id !== first.run_id || row.step !== first.step) break;
      batch.push(mailboxEntry(row));
    }
    return batch;
  }

  // --- ended runs ------------------------------------------------------------------------------

  /**
   * Drops the invocations of runs that have ended: those past their run's deadline, and those of
   * runs that said they ended (except `keep`, a batch in flight). Returns the keys dropped.
   */
  dropEnded(now: number, keep: ReadonlySet<number> = new Set()): string[] {
    if (!this.exists()) return [];
    const rows = this.sql.all<{ seq: number; key: string }>(
      `SELECT seq, key FROM mailbox WHERE deadline_at <= ?
         OR run_id IN (SELECT run_id FROM ended_runs WHERE until > ?)`,
      now,
      now,
    );
    const dropped = rows.filter((r) => !keep.has(r.seq));
    for (const row of dropped) this.sql.run("DELETE FROM mailbox WHERE seq = ?", row.seq);
    return dropped.map((r) => r.key);
  }

  /** A run ended: remembered until its deadline, so its invocations still on their way are dropped too. */
  runEnded(runId: string, deadlineAt: number, now: number): void {
    this.ensure();
    this.sql.run("DELETE FROM ended_runs WHERE until <= ?", now);
    if (deadlineAt > now) this.sql.run("INSERT OR REPLACE INTO ended_runs (run_id, until) VALUES (?, ?)", runId, deadlineAt);
  }

  /** Whether the run said it ended. */
  hasEnded(runId: string, now: number): boolean {
    if (!this.exists()) return false;
    return this.sql.one("SELECT 1 AS present FROM ended_runs WHERE run_id = ? AND until > ?", runId, now) !== undefined;
  }

  /**
   * Settles a batch: its invocations leave the mailbox, their keys are kept (so a second hand-over
   * of one is known), and its outcome waits in the outbox; in one transaction with any state change.
   */
  settle(batch: readonly MailboxEntry[], report: RemoteReport, now: number): void {
    const first = batch[0];
    if (!first) return;
    this.sql.run("DELETE FROM settled_keys WHERE until <= ?", now);
    for (const entry of batch) {
      this.sql.run("DELETE FROM mailbox WHERE seq = ?", entry.seq);
      const until = entry.deadlineAt ?? now + SETTLED_KEY_FALLBACK_MS;
      this.sql.run("INSERT OR REPLACE INTO settled_keys (key, until) VALUES (?, ?)", entry.key, until);
    }
    this.sql.run(
      "INSERT OR REPLACE INTO outbox (key, keys, run_id, pipeline, report) VALUES (?, ?, ?, ?, ?)",
      first.key,
      JSON.stringify(batch.map((e) => e.key)),
      first.runId,
      first.pipeline,
      JSON.stringify(report),
    );
  }

  outbox(): { key: string; runId: string; pipeline: string; report: RemoteReport }[] {
    if (!this.exists()) return [];
    return this.sql
      .all<{ key: string; run_id: string; pipeline: string; report: string }>("SELECT * FROM outbox")
      .map((r) => ({ key: r.key, runId: r.run_id, pipeline: r.pipeline, report: JSON.parse(r.report) as RemoteReport }));
  }

  delivered(key: string): void {
    this.sql.run("DELETE FROM outbox WHERE key = ?", key);
  }

  // --- state -----------------------------------------------------------------------------------

  specs(): StateSpec[] {
    if (!this.exists()) return [];
    return this.sql
      .all<StateRow>("SELECT * FROM state ORDER BY name")
      .map((r) => ({ name: r.name, typename: r.typename, expireMode: r.expire_mode, expireAfterMs: r.expire_after_ms }));
  }

  /** Registers specs the function asked for; the first registration of a name wins. Returns a conflict, if any. */
  register(specs: readonly StateSpec[]): string | undefined {
    this.ensure();
    // All or nothing: a spec that conflicts registers none of the others either.
    const types = new Map<string, string>();
    for (const spec of specs) {
      const registered = types.get(spec.name) ?? this.sql.one<StateRow>("SELECT * FROM state WHERE name = ?", spec.name)?.typename;
      if (registered !== undefined && registered !== spec.typename) {
        return `state '${spec.name}' is registered with type ${registered}, but the function declares ${spec.typename}`;
      }
      types.set(spec.name, spec.typename);
    }
    for (const spec of specs) {
      this.sql.run(
        "INSERT OR IGNORE INTO state (name, typename, expire_mode, expire_after_ms, value, expires_at) VALUES (?, ?, ?, ?, NULL, NULL)",
        spec.name,
        spec.typename,
        spec.expireMode,
        spec.expireAfterMs,
      );
    }
    return undefined;
  }

  /** Every registered value as the function should see it now: expired values are cleared first. */
  values(now: number): { name: string; value: TypedValue }[] {
    if (!this.exists()) return [];
    this.sql.run("UPDATE state SET value = NULL, expires_at = NULL WHERE expires_at IS NOT NULL AND expires_at <= ?", now);
    return this.sql.all<StateRow>("SELECT * FROM state ORDER BY name").map((r) => ({
      name: r.name,
      value: r.value === null ? create(TypedValueSchema, { typename: r.typename, hasValue: false }) : fromBinary(TypedValueSchema, new Uint8Array(r.value)),
    }));
  }

  /** An invocation reads the state: values that expire after each invocation start their time again. */
  touch(now: number): void {
    if (!this.exists()) return;
    this.sql.run("UPDATE state SET expires_at = ? + expire_after_ms WHERE expire_mode = ? AND value IS NOT NULL", now, EXPIRE.AFTER_INVOKE);
  }

  /** What is wrong with changing state `name` to `value` (undefined: deleting it), if anything; nothing is written. */
  mutationProblem(name: string, value: TypedValue | undefined): string | undefined {
    const spec = this.sql.one<StateRow>("SELECT * FROM state WHERE name = ?", name);
    if (!spec) return `the function changed state '${name}', which it never registered`;
    if (value !== undefined && value.typename !== spec.typename) {
      return `the function wrote state '${name}' with type ${value.typename}, but it is registered with ${spec.typename}`;
    }
    return undefined;
  }

  /** Changes state `name` to `value` (undefined: deletes it); `mutationProblem` has found nothing wrong with it. */
  mutate(name: string, value: TypedValue | undefined, now: number): void {
    if (value === undefined) {
      this.sql.run("UPDATE state SET value = NULL, expires_at = NULL WHERE name = ?", name);
      return;
    }
    const spec = this.sql.one<StateRow>("SELECT * FROM state WHERE name = ?", name);
    const expiresAt = !spec || spec.expire_mode === EXPIRE.NONE || spec.expire_after_ms <= 0 ? null : now + spec.expire_after_ms;
    this.sql.run("UPDATE state SET value = ?, expires_at = ? WHERE name = ?", toBinary(TypedValueSchema, value), expiresAt, name);
  }
}

/**
 * A mailbox row as an entry. Its call is parsed with the call's schema, so a row stored by an
 * earlier version gets the defaults of fields added since (`transport`).
 */
export function mailboxEntry(row: MailboxRow): MailboxEntry {
  return {
    seq: row.seq,
    key: row.key,
    address: JSON.parse(row.address) as FunctionAddress,
    runId: row.run_id,
    pipeline: row.pipeline,
    step: row.step,
    argument: new Uint8Array(row.argument),
    caller: row.caller,
    call: remoteCallSchema.parse(JSON.parse(row.call)),
    deadlineAt: row.deadline_at,
  };
}
