/**
 * What a start request comes to in a run's host: a new run's record, or the answer to a start of
 * an id that already holds a run (a duplicate, or the caller's own start asked again).
 */
import { findPipeline } from "../../src/catalog";
import type { StartRunOutcome, StartRunRequest } from "../../src/runs/protocol";
import { runTimeoutSeconds } from "../../src/runs/run-timeout";
import type { Settings } from "../../src/settings";
import { RunRecord } from "./run-record";
import type { RunIndexer } from "./run-indexer";
import type { RunSession } from "./run-session";

/** The record of a new run, not written yet (the burst that begins it writes it). */
export function newRunRecord(request: StartRunRequest, settings: Settings, now: number): RunRecord {
  const pipeline = findPipeline(request.pipeline);
  if (!pipeline) throw new Error(`unknown pipeline '${request.pipeline}'`);
  return RunRecord.create({
    id: request.runId,
    pipeline: request.pipeline,
    surface: request.surface,
    runName: request.runName ?? null,
    headers: request.headers,
    ...(request.requestDigest !== undefined ? { requestDigest: request.requestDigest } : {}),
    ...(request.sseStart ? { sseStart: true as const } : {}),
    ...(request.startToken !== undefined ? { startToken: request.startToken } : {}),
    input: request.input,
    createdAt: now,
    deadlineAt: now + runTimeoutSeconds(pipeline, settings, request.runTimeoutSeconds) * 1000,
    capture: request.capture,
    admission: request.admission ?? null,
  });
}

/** The answer to a start of an id that already holds a run: nothing of the run changes, except as below. */
export function duplicateStart(existing: RunSession, request: StartRunRequest, indexer: RunIndexer): StartRunOutcome {
  const { admission, startToken, slotToStarter, sseStart } = existing.record.row;
  // The caller's own start, asked again after its answer was lost: nobody reads the lost answer,
  // so the call that waits for it stops being the starter, and the run gives its slot back
  // through its shard when it ends (a slot handed to that answer would be lost); a final index
  // row that answer carried is sent from here.
  if (request.startToken !== undefined && request.startToken === startToken) {
    existing.releaseStarter();
    if (existing.record.row.indexToStarter) indexer.rowToStarterLost(existing.record, existing.capture, existing.results);
  }
  return {
    started: false,
    reason: "duplicate",
    holds: admission,
    ...(startToken !== undefined ? { startToken } : {}),
    ...(slotToStarter ? { slotToStarter } : {}),
    ...(sseStart ? { sseStart } : {}),
  };
}
