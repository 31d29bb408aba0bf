/**
 * What happens to a run after it ends: its results move to the pipeline's store (KV or R2), and
 * when its retention is over everything it left is deleted (index row, moved results, R2 stage
 * payloads, its storage), leaving a tombstone for a while so its id answers `run_expired`.
 */
import { deleteRunIndex, sendRunEvents, type RunIndexKey } from "../../src/engine/run-index";
import { deleteRunPayloads } from "../../src/queues/stage-transport";
import type { RunMissing } from "../../src/runs/protocol";
import type { AlarmPlan } from "./alarm-plan";
import type { RunRecord } from "./run-record";
import type { RunResults } from "./run-results";
import type { RunStore } from "./run-store";

/** What is left of a run whose retention ended: when it was deleted, and its index row if that is not gone yet. */
interface Tombstone {
  at: number;
  forget?: RunIndexKey;
}
const TOMBSTONE_KEY = "expired";
/** How soon a failed move of results to KV or R2 is tried again. */
const RESULTS_MOVE_RETRY_MS = 30_000;
/** How soon the deletion of an expired run's index row is tried again, when neither the queue nor D1 took it. */
const FORGET_RETRY_MS = 60_000;
/** How long an expired run's id answers `run_expired` rather than `run_not_found`. */
const TOMBSTONE_MS = 7 * 86_400_000;

export interface RetentionDeps {
  store: RunStore;
  alarm: AlarmPlan;
  env: Pick<Env, "DB" | "PAYLOADS" | "INDEX_QUEUE">;
}

export class Retention {
  constructor(private readonly deps: RetentionDeps) {}

  /** A run that is not here: expired (with when) if its tombstone says so. */
  missing(): RunMissing {
    const tombstone = this.deps.store.get<Tombstone>(TOMBSTONE_KEY);
    return tombstone ? { found: false, expired: { at: tombstone.at } } : { found: false };
  }

  /** A new run takes an expired run's id: the tombstone goes. */
  clearTombstone(): void {
    const tombstone = this.deps.store.get<Tombstone>(TOMBSTONE_KEY);
    if (tombstone === undefined) return;
    this.deps.store.delete(TOMBSTONE_KEY);
    // The old run's index row was still to go: one more try (the new run has a key of its own).
    if (tombstone.forget) void this.forget(tombstone.forget);
  }

  /** The alarm found no run: only a tombstone is left; its index row goes, then itself when its time is up. */
  async tombstoneAlarm(): Promise<void> {
    const tombstone = this.deps.store.get<Tombstone>(TOMBSTONE_KEY);
    if (!tombstone) return;
    if (!(await this.retryPendingForget())) return;
    if (Date.now() >= tombstone.at + TOMBSTONE_MS) await this.deps.store.deleteAll();
    else this.deps.alarm.set(tombstone.at + TOMBSTONE_MS);
  }

  /**
   * An expired run's index row whose deletion used up the queue's retries (the dead-letter queue
   * hands it back): the tombstone keeps it and the alarm tries again until D1 takes it. The object
   * may hold a newer run of the same id by then; the row's key names the old one.
   */
  forgetLater(key: RunIndexKey): void {
    const tombstone = this.deps.store.get<Tombstone>(TOMBSTONE_KEY) ?? { at: Date.now() };
    this.deps.store.put<Tombstone>(TOMBSTONE_KEY, { ...tombstone, forget: key });
    this.deps.alarm.noLaterThan(Date.now() + FORGET_RETRY_MS);
  }

  /** Tries again to delete an index row the tombstone keeps; false (and the alarm set to try later) if it is still there. */
  async retryPendingForget(): Promise<boolean> {
    const tombstone = this.deps.store.get<Tombstone>(TOMBSTONE_KEY);
    if (!tombstone?.forget) return true;
    if (!(await this.forget(tombstone.forget))) {
      this.deps.alarm.noLaterThan(Date.now() + FORGET_RETRY_MS);
      return false;
    }
    this.deps.store.put<Tombstone>(TOMBSTONE_KEY, { at: tombstone.at });
    return true;
  }

  /** The alarm of an ended run: move results if due, delete everything once retention is over. */
  async alarm(record: RunRecord, results: RunResults): Promise<"deleted" | "kept"> {
    const row = record.row;
    const expired = row.expiresAt !== null && Date.now() >= row.expiresAt;
    if (!expired) {
      if (results.needsMove()) await this.moveResults(results);
      if (row.expiresAt !== null) {
        // Results that could not be moved yet are tried again before the retention ends. The alarm
        // has just fired, so this sets it, unless a retry of this same alarm wants it sooner (an
        // index row the queue refused): retention must not push that retry back to its end.
        const next = results.needsMove() ? Math.min(Date.now() + RESULTS_MOVE_RETRY_MS, row.expiresAt) : row.expiresAt;
        this.deps.alarm.noLaterThan(next);
      }
      return "kept";
    }
    // An older run's row still to go would be lost with the tombstone this run leaves: try it first.
    await this.retryPendingForget();
    // The index row goes through the queue (D1 being down must not keep the run's storage).
    const key: RunIndexKey = { pipeline: row.pipeline, id: row.id, created_at: row.createdAt };
    const forgotten = await this.forget(key);
    await results.deleteMoved();
    if (row.payloadsInR2) await deleteRunPayloads(this.deps.env.PAYLOADS, row.pipeline, row.id);
    // The id becomes reusable: the object holds nothing any more (deleteAll also drops the alarm).
    await this.deps.store.deleteAll();
    const now = Date.now();
    this.deps.store.put<Tombstone>(TOMBSTONE_KEY, forgotten ? { at: now } : { at: now, forget: key });
    this.deps.alarm.set(forgotten ? now + TOMBSTONE_MS : now + FORGET_RETRY_MS);
    return "deleted";
  }

  /** Has the run's index row deleted: through the run-events queue, else directly; false if neither took it. */
  private async forget(key: RunIndexKey): Promise<boolean> {
    if (await sendRunEvents(this.deps.env.INDEX_QUEUE, { forget: key })) return true;
    try {
      await deleteRunIndex(this.deps.env.DB, key.pipeline, key.id, key.created_at);
      return true;
    } catch (error) {
      console.error(`edgeserve retention: the index row of ${key.pipeline}/${key.id} could not be deleted, will retry: ${String(error)}`);
      return false;
    }
  }

  /** Moves a finished run's results to its pipeline's store; on failure the alarm tries again soon. */
  async moveResults(results: RunResults): Promise<void> {
    try {
      await results.move();
    } catch (error) {
      console.error(`edgeserve: moving results to the result store failed, will retry: ${String(error)}`);
      this.deps.alarm.noLaterThan(Date.now() + RESULTS_MOVE_RETRY_MS);
    }
  }
}
