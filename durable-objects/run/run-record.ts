/**
 * The run's own entry and its in-flight work items: loaded once per instance, changed in memory
 * during a burst of progress, and written back by `save` at the end of the burst.
 *
 * Work items that are created and finished inside one burst are never stored: a burst has no
 * `await`, so it commits atomically and nothing outside can tell the difference (output gates hold
 * every response until the write is durable). The run's first events and results travel inside
 * its entry (`inline`) while they are small, so a run that ends in one burst writes one entry.
 */
import type { StoredMessage } from "../../src/pipeline/message";
import type { AdmissionTicket } from "../../src/admission/protocol";
import { isActive, type CaptureRequest, type RunErrorInfo, type RunEvent, type RunStatus, type StepState, type Surface } from "../../src/runs/protocol";
import { INPUT_KEY, RUN_KEY, WORK_PREFIX, type RunStore } from "./run-store";
import { deleteSpilled, getSpilled, putSpilled, resolveSpilled } from "./spilled-values";

export interface WorkItem {
  /** The idempotency key `<run id>/<step>/<message seq>`. */
  key: string;
  step: string;
  /** The step that emitted the message, or null for the run's input. */
  from: string | null;
  /**
   * The key of the invocation whose output this message is (absent for the run's input, for a
   * message between remote functions, and in runs stored before it existed): the message path's tree.
   */
  parent?: string;
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
  /** Sends in a row that failed (the transport refused them), and the last one's error (failed-sends.ts). */
  sendFailures?: number;
  lastSendError?: string;
}

export interface RunRow {
  id: string;
  pipeline: string;
  status: RunStatus;
  surface: Surface;
  runName: string | null;
  /** See `StartRunRequest.requestDigest`; absent for runs without one (and runs stored before it existed). */
  requestDigest?: string;
  /** See `StartRunRequest.sseStart`. */
  sseStart?: true;
  /** See `StartRunRequest.startToken`. */
  startToken?: string;
  /** See `RunSnapshot.payloadsDropped`. */
  payloadsDropped?: true;
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
  /** Rows this run has written to its object's storage (entries and alarms), as of its last save. */
  rowsWritten: number;
  capture: CaptureRequest;
  admission: AdmissionTicket | null;
  /**
   * The run ended while its sync starter waited, so its slot went back with the answer, not through
   * the index. Saved in the burst that ended the run: a starter whose answer a reset cut learns from
   * it that it holds the slot again (and no re-sent index message releases it a second time).
   */
  slotToStarter?: true;
  /**
   * The run ended while its sync starter waited, so its final index row went back with the answer
   * (src/engine/run-index-batch.ts), not in a message of its own. Saved in the burst that ended the
   * run: a start asked again after a reset cut that answer sends the row from here after all.
   */
  indexToStarter?: true;
  /** Whether a stage input of this run was written to R2 (deleted with the run). */
  payloadsInR2: boolean;
  /** Whether a run-events message failed to send and waits for the alarm to send it again. */
  indexPending: boolean;
  /** Function addresses still to be told that the run ended (dispatch/end-notices.ts). */
  endNotices?: string[];
}

/** Where a result's bytes are: here (in an entry, or in parts), or moved to an external store. */
export type ResultLocation = "row" | "parts" | "kv" | "r2";

/** A result as its entry holds it. */
export interface StoredResult {
  index: number;
  contentType: string;
  location: ResultLocation;
  /** The bytes, when `location` is `row`. */
  bytes?: Uint8Array;
  /** How many `part:` entries hold the bytes, when `location` is `parts`. */
  parts?: number;
}

/** The run's first events and results, kept inside its entry while they fit `INLINE_MAX_BYTES`. */
export interface InlineLog {
  events: RunEvent[];
  results: StoredResult[];
  /** What the inline events and results take, roughly as serialised. */
  bytes: number;
  /** Set once something did not fit: from then on every burst's events and results get entries of their own. */
  spilled: boolean;
}

/**
 * How much of the run's events and results its entry carries. Small enough that rewriting the
 * entry at every burst stays cheap, large enough for a typical run's whole history.
 */
export const INLINE_MAX_BYTES = 64 * 1024;

/**
 * An input whose JSON is longer than this is kept in an entry of its own, written once, so the run
 * entry (input, inline log, headers) stays well under the entry limit; over the limit, the input's
 * entry is split in parts (spilled-values.ts), as a work item over it is. A smaller input stays in
 * the run entry, so a fast run still writes one entry.
 */
export const APART_MIN_CHARS = 256 * 1024;

/** More than the events a run ever publishes before writing them (delta-flush.ts's `maxDeltas`, and a burst's events). */
const UNWRITTEN_SEQ_FENCE = 100_000;

/** The `run` entry. `layout` names its shape, so a later one can convert older entries. */
interface StoredRun {
  layout: 1;
  /** The row; its input is in the `input` entry instead when `inputApart` is set. */
  row: Omit<RunRow, "input"> & { input?: StoredMessage };
  inline: InlineLog;
  inputApart?: true;
}

/** What a new run's row is given; everything else starts at "nothing has happened yet". */
export type NewRunFields = Pick<
  RunRow,
  | "id"
  | "pipeline"
  | "surface"
  | "runName"
  | "requestDigest"
  | "sseStart"
  | "startToken"
  | "headers"
  | "input"
  | "createdAt"
  | "deadlineAt"
  | "capture"
  | "admission"
>;

export class RunRecord {
  /** Work items by key, as they stand in memory. */
  readonly work = new Map<string, WorkItem>();
  private readonly persistedWork = new Map<string, string>();
  /** Whether the input is kept in an entry of its own, and whether that entry is written yet. */
  private inputApart = false;
  private inputWritten = false;
  /** Rows written before this instance's store began counting (by earlier instances). */
  private rowsBefore = 0;

  private constructor(
    readonly row: RunRow,
    readonly inline: InlineLog,
  ) {}

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
      indexPending: false,
    };
    const record = new RunRecord(row, { events: [], results: [], bytes: 0, spilled: false });
    record.inputApart = JSON.stringify(fields.input).length > APART_MIN_CHARS;
    return record;
  }

  /** The run this object holds, or undefined when it holds none. */
  static load(store: RunStore): RunRecord | undefined {
    const stored = store.get<StoredRun>(RUN_KEY);
    if (!stored) return undefined;
    const input = stored.inputApart ? getSpilled<StoredMessage>(store, INPUT_KEY) : stored.row.input;
    if (!input) throw new Error(`run '${stored.row.id}' has lost its input entry`);
    const record = new RunRecord({ ...stored.row, input }, stored.inline);
    // A running run whose steps stream may have published deltas that were not written before its
    // object was reset (they are written coalesced): its sequence numbers resume past them, never reused.
    const streamed = Object.values(record.row.steps).some((s) => s.deltas !== undefined);
    if (isActive(record.row.status) && streamed) record.row.nextSeq += UNWRITTEN_SEQ_FENCE;
    record.inputApart = record.inputWritten = stored.inputApart === true;
    record.rowsBefore = stored.row.rowsWritten - store.rowsWritten;
    for (const [key, entry] of store.list<WorkItem>(WORK_PREFIX)) {
      const item = resolveSpilled(store, key, entry);
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

  /** Takes `bytes` of the inline budget; false (and spilled from then on) when they do not fit. */
  fitsInline(bytes: number): boolean {
    if (this.inline.spilled || this.inline.bytes + bytes > INLINE_MAX_BYTES) {
      this.inline.spilled = true;
      return false;
    }
    this.inline.bytes += bytes;
    return true;
  }

  /** Forgets the run's input (capture keeps no payloads); the burst's save writes the change. */
  dropInput(store: RunStore): void {
    if (this.inputWritten) deleteSpilled(store, INPUT_KEY);
    this.inputApart = this.inputWritten = false;
    this.row.input = { v: null };
  }

  /** Writes the run entry and the difference between in-memory and stored work items. */
  save(store: RunStore): void {
    for (const [key] of this.persistedWork) {
      if (!this.work.has(key)) {
        deleteSpilled(store, WORK_PREFIX + key);
        this.persistedWork.delete(key);
      }
    }
    for (const item of this.work.values()) {
      const fingerprint = workFingerprint(item);
      if (this.persistedWork.get(item.key) === fingerprint) continue;
      putSpilled(store, WORK_PREFIX + item.key, item);
      this.persistedWork.set(item.key, fingerprint);
    }
    if (this.inputApart && !this.inputWritten) {
      putSpilled(store, INPUT_KEY, this.row.input);
      this.inputWritten = true;
    }
    // The entry counts its own write, so the figure it stores is final once the run is.
    this.row.rowsWritten = this.rowsBefore + store.rowsWritten + 1;
    const row = this.inputApart ? { ...this.row, input: undefined } : this.row;
    store.put<StoredRun>(RUN_KEY, { layout: 1, row, inline: this.inline, ...(this.inputApart ? { inputApart: true as const } : {}) });
  }
}

function workFingerprint(item: WorkItem): string {
  return `${item.attempt}:${item.state}:${item.leaseUntil}:${item.sends}:${item.sendFailures ?? 0}`;
}
