/**
 * Keeps the D1 run index in step with the run and gives the run's admission slot back when it
 * ends, both through one run-events queue message (src/engine/run-index.ts). Sends go out without
 * holding the run up; one that fails is marked in the run entry (`indexPending`) and re-sent by the
 * alarm, every INDEX_RETRY_DELAY_MS for as long as the run exists. A message the queue took but
 * whose row D1 never wrote (its queue retries used up, dead-lettered) is handed back here by the
 * dead-letter consumer (`resendLater`) and goes the same way: nothing gives up while the run exists.
 * Re-sends carry the run's row as it is then, with its current version, so a final row always
 * replaces an earlier "running" one (migrations/0003).
 */
import type { AdmissionTicket } from "../../src/admission/protocol";
import { preview } from "../../src/capture/policy";
import { findPipeline } from "../../src/catalog";
import type { RunEventsMessage } from "../../src/engine/run-index";
import { INDEX_PREVIEW_MAX_BYTES, type RunIndexRowMessage } from "../../src/runs/index-row";
import { resultsAsJson } from "../../src/runs/result-json";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import type { AlarmPlan } from "./alarm-plan";
import type { RunCapturePolicy } from "./run-capture";
import type { RunRecord, RunRow } from "./run-record";
import type { RunResults } from "./run-results";
import type { RunStore } from "./run-store";
import { jsonInput } from "./projections";

/** How soon a message that could not be sent is tried again. */
export const INDEX_RETRY_DELAY_MS = 30_000;

export interface RunIndexerDeps {
  /** Sends a message to the run-events queue (`sendRunEvents`); false when the queue would not take it. */
  send: (message: RunEventsMessage) => Promise<boolean>;
  store: RunStore;
  alarm: AlarmPlan;
  waitUntil: (promise: Promise<unknown>) => void;
}

export class RunIndexer {
  constructor(private readonly deps: RunIndexerDeps) {}

  /**
   * REALTIME indexing: the row of a run that is still pending or running. A run that ended in the
   * same burst is indexed by `ended` already; one row per state is enough.
   */
  active(record: RunRecord, capture: RunCapturePolicy, results: RunResults): void {
    if (record.terminal || capture.indexing !== "as-it-goes") return;
    const message = this.message(record, capture, results, false);
    if (message) this.send(record, message);
  }

  /** The run ended: its final row (unless it is not indexed) and its slot back to its shard. */
  ended(record: RunRecord, capture: RunCapturePolicy, results: RunResults): void {
    const message = this.message(record, capture, results, true);
    if (message) this.send(record, message);
  }

  /**
   * Whether the final row can go back to a sync starter waiting for the run (`finalRow`): only
   * when the run-events message would carry nothing else (its slot goes back with the answer too).
   */
  handsRowToStarter(record: RunRecord, capture: RunCapturePolicy): boolean {
    const row = record.row;
    return capture.indexing !== "none" && (row.admission === null || row.slotToStarter === true);
  }

  /** The run's final row, for its starter's isolate to send with other runs' rows (see `handsRowToStarter`). */
  finalRow(record: RunRecord, capture: RunCapturePolicy, results: RunResults): RunIndexRowMessage {
    return indexRow(record.row, capture, results);
  }

  /** The row went back with an answer that a reset cut (`indexToStarter`): it is sent from here after all. */
  rowToStarterLost(record: RunRecord, capture: RunCapturePolicy, results: RunResults): void {
    this.deps.waitUntil(
      results.prefetch().then(() => {
        const message = this.message(record, capture, results, true);
        if (message) this.send(record, message);
      }),
    );
  }

  /** A slot that served no run (a WebSocket that never sent its request frame). */
  releaseUnused(ticket: AdmissionTicket, runId: string): void {
    this.deps.waitUntil(this.deps.send({ release: release(ticket, runId) }));
  }

  /** Re-sends a message that failed earlier (the flag is set only on failure). */
  async retryIfPending(record: RunRecord, capture: RunCapturePolicy, results: RunResults): Promise<void> {
    if (!record.row.indexPending) return;
    await results.prefetch();
    const message = this.message(record, capture, results, record.terminal);
    if (!message || (await this.deps.send(message))) {
      record.row.indexPending = false;
      record.save(this.deps.store);
    } else {
      this.deps.alarm.noLaterThan(Date.now() + INDEX_RETRY_DELAY_MS);
    }
  }

  private message(record: RunRecord, capture: RunCapturePolicy, results: RunResults, ended: boolean): RunEventsMessage | undefined {
    const row = record.row;
    const message: RunEventsMessage = {};
    if (capture.indexing !== "none" && (ended || capture.indexing === "as-it-goes")) message.row = indexRow(row, capture, results);
    if (ended && row.admission && !row.slotToStarter) message.release = release(row.admission, row.id);
    return message.row || message.release ? message : undefined;
  }

  private send(record: RunRecord, message: RunEventsMessage): void {
    this.deps.waitUntil(
      this.deps.send(message).then((sent) => {
        if (!sent) this.resendLater(record);
      }),
    );
  }

  /**
   * The alarm sends the run's message again, after INDEX_RETRY_DELAY_MS (a queue or D1 outage is
   * not hammered): a send the queue refused, or a message the dead-letter consumer says D1 never
   * wrote.
   */
  resendLater(record: RunRecord): void {
    // The whole entry is written again, its slot field too: a slot given back to the caller
    // since must not be released by the retry.
    record.row.indexPending = true;
    record.save(this.deps.store);
    this.deps.alarm.noLaterThan(Date.now() + INDEX_RETRY_DELAY_MS);
  }
}

function release(ticket: AdmissionTicket, runId: string) {
  return "block" in ticket ? { shard: ticket.shard, runId, block: ticket.block } : { shard: ticket.shard, runId, waiting: true as const };
}

function indexRow(row: RunRow, capture: RunCapturePolicy, results: RunResults): RunIndexRowMessage {
  const keeps = capture.keepsPayloads(row.status);
  const limits = { redact: capture.run.redact, maxBytes: Math.min(capture.run.maxBytes, INDEX_PREVIEW_MAX_BYTES) };
  return {
    pipeline: row.pipeline,
    id: row.id,
    surface: row.surface,
    status: row.status,
    run_name: row.runName,
    created_at: row.createdAt,
    finished_at: row.finishedAt,
    duration_ms: row.finishedAt === null ? null : row.finishedAt - row.createdAt,
    steps_executed: countStepsExecuted(findPipeline(row.pipeline), row.steps),
    error: row.error?.code === "run_cancelled" ? null : (row.error?.message ?? null),
    cancel_reason: row.error?.code === "run_cancelled" ? (row.error.reason ?? null) : null,
    expires_at: row.expiresAt,
    parameters_preview: keeps ? preview(jsonInput(row.input), limits) : null,
    result_preview: keeps && row.status === "completed" ? preview(resultsAsJson(results.listNow()), limits) : null,
    version: row.nextSeq,
  };
}
