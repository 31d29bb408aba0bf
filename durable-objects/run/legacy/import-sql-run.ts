/**
 * Converts a run stored in SQL tables by an earlier deploy (schema.ts) into the Run object's
 * entries (../run-store.ts), once, the first time the run is loaded: the run entry, its events
 * (one entry per stored burst), its results and parts, and its work items; then the tables go.
 * It all happens in one transaction, so a run is never half converted.
 */
import type { StoredMessage } from "../../../src/pipeline/message";
import type { AdmissionTicket } from "../../../src/admission/protocol";
import type { CaptureRequest, RunErrorInfo, RunEvent, RunStatus, StepState, Surface } from "../../../src/runs/protocol";
import type { ResultLocation, RunRow, StoredResult, WorkItem } from "../run-record";
import { partKey } from "../result-store";
import { EVENTS_PREFIX, numberKey, RESULTS_PREFIX, RUN_KEY, WORK_PREFIX, type RunStore } from "../run-store";
import { hasSchema, hasWorkTable, migrate } from "./schema";
import { Sql } from "../../sql";

/** The size of a database that holds nothing (measured: one 4 KiB page). */
const EMPTY_DATABASE_BYTES = 4096;

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
  index_pending: number;
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

/** True when this object held a run in SQL tables, now converted to entries. */
export function importSqlRun(storage: DurableObjectStorage, store: RunStore): boolean {
  // An empty database is one page: an unknown id's object skips the schema query.
  if (storage.sql.databaseSize <= EMPTY_DATABASE_BYTES) return false;
  const sql = new Sql(storage.sql);
  if (!hasSchema(sql)) return false;
  store.transaction(() => {
    migrate(sql);
    const run = sql.one<RunTableRow>("SELECT * FROM run WHERE singleton = 1");
    if (run) {
      for (const events of sql.all<{ first_seq: number; body: string }>("SELECT first_seq, body FROM events ORDER BY first_seq")) {
        store.put(numberKey(EVENTS_PREFIX, events.first_seq), JSON.parse(events.body) as RunEvent[]);
      }
      importResults(sql, store);
      if (hasWorkTable(sql)) for (const w of sql.all<WorkTableRow>("SELECT * FROM work")) store.put(WORK_PREFIX + w.key, workItemOf(w));
      // Everything lives in entries of its own: the run entry carries nothing inline.
      store.put(RUN_KEY, { layout: 1, row: runRowOf(run), inline: { events: [], results: [], bytes: 0, spilled: true } });
    }
    for (const table of ["run", "events", "results", "result_parts", "work"]) sql.run(`DROP TABLE IF EXISTS ${table}`);
  });
  return true;
}

function importResults(sql: Sql, store: RunStore): void {
  const rows = sql.all<{ idx: number; body: ArrayBuffer; content_type: string; location: string | null }>("SELECT * FROM results ORDER BY idx");
  for (const row of rows) {
    const location = (row.location ?? "row") as ResultLocation;
    const result: StoredResult = { index: row.idx, contentType: row.content_type, location };
    if (location === "row") result.bytes = new Uint8Array(row.body);
    if (location === "parts") {
      const parts = sql.all<{ body: ArrayBuffer }>("SELECT body FROM result_parts WHERE idx = ? ORDER BY part", row.idx);
      for (const [n, part] of parts.entries()) store.put(partKey(row.idx, n), new Uint8Array(part.body));
      result.parts = parts.length;
    }
    store.put(numberKey(RESULTS_PREFIX, row.idx), result);
  }
}

function runRowOf(stored: RunTableRow): RunRow {
  return {
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
    indexPending: stored.index_pending === 1,
  };
}

function workItemOf(w: WorkTableRow): WorkItem {
  return {
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
}
