/**
 * The run's own row and its in-flight work items: loaded once per instance, changed in memory
 * during a burst of progress, and written back by `save` at the end of the burst.
 *
 * Work items that are created and finished inside one burst never reach SQLite: a burst has no
 * `await`, so it commits atomically and nothing outside can tell the difference (output gates hold
 * every response until the write is durable). That keeps an all-inline run at a handful of rows.
 */
import type { StoredMessage } from "../../src/pipeline/message";
import { isActive, type CaptureRequest, type RunErrorInfo, type RunStatus, type StepState, type Surface } from "../../src/runs/protocol";
import type { AdmissionTicket } from "../../src/admission/protocol";
import { createWorkTable, hasWorkTable, SCHEMA_VERSION } from "./schema";
import type { Sql } from "./sql";

export interface WorkItem {
  /** The idempotency key `<run id>/<step>/<message seq>`. */
  key: string;
  step: string;
  /** The step that emitted the message, or null for the run's input. */
  from: string | null;
  message: StoredMessage;
  /** Invocations started: executions of an inline step, claims of a queued one. */
  attempt: number;
  /**
   * `pending`: ready to run or send. `running`: executing here (inline) or claimed by a consumer
   * (queued). `queued`: sent to the stage queue, waiting for a consumer or a retry's delay.
   */
  state: "pending" | "running" | "queued";
  /**
   * Sent items (queued and remote steps): when the Run object stops waiting to hear back and sends
   * again. Pending items: the earliest time they may run (a delayed message, a held-back call).
   */
  leaseUntil: number | null;
  /** How many times the work item was sent out (to the stage queue or to its function's address). */
  sends: number;
  /** A delayed message's cancellation token. */
  token: string | null;
}

export interface RunRow {
  id: string;
  pipeline: string;
  status: RunStatus;
  surface: Surface;
  runName: string | null;
  headers: Record<string, string>;
  input: StoredMessage;
  createdAt: number;
  deadlineAt: number;
  finishedAt: number | null;
  expiresAt: number | null;
  nextSeq: number;
  nextMessage: number;
  resultCount: number;
  error: RunErrorInfo | null;
  steps: Record<string, StepState>;
  rowsWritten: number;
  capture: CaptureRequest;
  admission: AdmissionTicket | null;
  /** Whether a stage input of this run was written to R2 (deleted with the run). */
  payloadsInR2: boolean;
}

interface RunTableRow extends Record<string, SqlStorageValue> {
  id: string;
  pipeline: string;
  status: string;
  surface: string;
  run_name: string | null;
  headers: string;
  input: string;
  created_at: number;
  deadline_at: number;
  finished_at: number | null;
  expires_at: number | null;
  next_seq: number;
  next_message: number;
  result_count: number;
  error: string | null;
  steps: string;
  rows_written: number;
  capture: string;
  admission: string | null;
  payloads_in_r2: number;
}

interface WorkTableRow extends Record<string, SqlStorageValue> {
  key: string;
  step: string;
  from_step: string | null;
  message: string;
  attempt: number;
  state: string;
  lease_until: number | null;
  sends: number;
  token: string | null;
}

/** What a new run's row is given; everything else starts at "nothing has happened yet". */
export type NewRunFields = Pick<RunRow, "id" | "pipeline" | "surface" | "runName" | "headers" | "input" | "createdAt" | "deadlineAt" | "capture" | "admission">;

export class RunRecord {
  /** Work items by key, as they stand in memory. */
  readonly work = new Map<string, WorkItem>();
  private readonly persistedWork = new Map<string, string>();
  private inserted: boolean;
  private workTableReady: boolean;

  private constructor(readonly row: RunRow, inserted: boolean, workTableReady: boolean) {
    this.inserted = inserted;
    this.workTableReady = workTableReady;
  }

  /** A new run, not written yet: running, no events, no results, no steps. */
  static create(fields: NewRunFields): RunRecord {
    const row: RunRow = {
      ...fields,
      status: "running",
      finishedAt: null,
      expiresAt: null,
      nextSeq: 1,
      nextMessage: 0,
      resultCount: 0,
      error: null,
      steps: {},
      rowsWritten: 0,
      payloadsInR2: false,
    };
    return new RunRecord(row, false, false);
  }

  static load(sql: Sql): RunRecord | undefined {
    const stored = sql.one<RunTableRow>("SELECT * FROM run WHERE singleton = 1");
    if (!stored) return undefined;
    const record = new RunRecord(
      {
        id: stored.id,
        pipeline: stored.pipeline,
        status: stored.status as RunStatus,
        surface: stored.surface as Surface,
        runName: stored.run_name,
        headers: JSON.parse(stored.headers) as Record<string, string>,
        input: JSON.parse(stored.input) as StoredMessage,
        createdAt: stored.created_at,
        deadlineAt: stored.deadline_at,
        finishedAt: stored.finished_at,
        expiresAt: stored.expires_at,
        nextSeq: stored.next_seq,
        nextMessage: stored.next_message,
        resultCount: stored.result_count,
        error: stored.error === null ? null : (JSON.parse(stored.error) as RunErrorInfo),
        steps: JSON.parse(stored.steps) as Record<string, StepState>,
        rowsWritten: stored.rows_written,
        capture: JSON.parse(stored.capture) as CaptureRequest,
        admission: stored.admission === null ? null : (JSON.parse(stored.admission) as AdmissionTicket),
        payloadsInR2: stored.payloads_in_r2 === 1,
      },
      true,
      hasWorkTable(sql),
    );
    if (!record.workTableReady) return record;
    for (const w of sql.all<WorkTableRow>("SELECT * FROM work")) {
      const item: WorkItem = {
        key: w.key,
        step: w.step,
        from: w.from_step,
        message: JSON.parse(w.message) as StoredMessage,
        attempt: w.attempt,
        state: w.state === "running" || w.state === "queued" ? w.state : "pending",
        leaseUntil: w.lease_until,
        sends: w.sends,
        token: w.token,
      };
      record.work.set(item.key, item);
      record.persistedWork.set(item.key, workFingerprint(item));
    }
    return record;
  }

  get terminal(): boolean {
    return !isActive(this.row.status);
  }

  nextSeq(): number {
    return this.row.nextSeq++;
  }

  /** Writes the run row and the difference between in-memory and stored work items. */
  save(sql: Sql): void {
    for (const [key] of this.persistedWork) {
      if (!this.work.has(key)) {
        sql.run("DELETE FROM work WHERE key = ?", key);
        this.persistedWork.delete(key);
      }
    }
    for (const item of this.work.values()) {
      const fingerprint = workFingerprint(item);
      if (this.persistedWork.get(item.key) === fingerprint) continue;
      if (!this.workTableReady) {
        createWorkTable(sql);
        this.workTableReady = true;
      }
      sql.run(
        `INSERT INTO work (key, step, from_step, message, attempt, state, lease_until, sends, token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET attempt = excluded.attempt, state = excluded.state,
         lease_until = excluded.lease_until, sends = excluded.sends`,
        item.key,
        item.step,
        item.from,
        JSON.stringify(item.message),
        item.attempt,
        item.state,
        item.leaseUntil,
        item.sends,
        item.token,
      );
      this.persistedWork.set(item.key, fingerprint);
    }
    const r = this.row;
    // The row counts its own write, so the figure it stores is final once the run is.
    r.rowsWritten = sql.rowsWritten + 1;
    const values = [
      r.id, r.pipeline, r.status, r.surface, r.runName, JSON.stringify(r.headers), JSON.stringify(r.input),
      r.createdAt, r.deadlineAt, r.finishedAt, r.expiresAt, r.nextSeq, r.nextMessage, r.resultCount,
      r.error === null ? null : JSON.stringify(r.error), JSON.stringify(r.steps), r.rowsWritten,
      JSON.stringify(r.capture), r.admission === null ? null : JSON.stringify(r.admission), r.payloadsInR2 ? 1 : 0,
    ];
    if (this.inserted) {
      sql.run(
        `UPDATE run SET status = ?, finished_at = ?, expires_at = ?, next_seq = ?, next_message = ?,
         result_count = ?, error = ?, steps = ?, rows_written = ?, payloads_in_r2 = ? WHERE singleton = 1`,
        r.status, r.finishedAt, r.expiresAt, r.nextSeq, r.nextMessage, r.resultCount,
        r.error === null ? null : JSON.stringify(r.error), JSON.stringify(r.steps), r.rowsWritten, r.payloadsInR2 ? 1 : 0,
      );
    } else {
      sql.run(
        `INSERT INTO run (singleton, schema_version, id, pipeline, status, surface, run_name, headers, input,
         created_at, deadline_at, finished_at, expires_at, next_seq, next_message, result_count, error, steps,
         rows_written, capture, admission, payloads_in_r2)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        SCHEMA_VERSION,
        ...values,
      );
      this.inserted = true;
    }
  }
}

function workFingerprint(item: WorkItem): string {
  return `${item.attempt}:${item.state}:${item.leaseUntil}:${item.sends}`;
}
