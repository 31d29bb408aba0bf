/**
 * What happens to a run after it ends: its results move to the pipeline's store (KV or R2), and
 * when its retention is over everything it left is deleted (index row, moved results, R2 stage
 * payloads, its storage), leaving a tombstone for a while so its id answers `run_expired`.
 */
import { deleteRunIndex } from "../../src/engine/run-index";
import { deleteRunPayloads } from "../../src/queues/stage-transport";
import type { RunMissing } from "../../src/runs/protocol";
import type { AlarmPlan } from "./alarm-plan";
import type { RunRecord } from "./run-record";
import type { RunResults } from "./run-results";
import type { RunStore } from "./run-store";

/** What is left of a run whose retention ended: when it was deleted. */
interface Tombstone {
  at: number;
}
const TOMBSTONE_KEY = "expired";
/** How soon a failed move of results to KV or R2 is tried again. */
const RESULTS_MOVE_RETRY_MS = 30_000;
/** How long an expired run's id answers `run_expired` rather than `run_not_found`. */
const TOMBSTONE_MS = 7 * 86_400_000;

export interface RetentionDeps {
  store: RunStore;
  alarm: AlarmPlan;
  env: Pick<Env, "DB" | "PAYLOADS">;
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
    if (this.deps.store.get(TOMBSTONE_KEY) !== undefined) this.deps.store.delete(TOMBSTONE_KEY);
  }

  /** The alarm found no run: only a tombstone is left, and it goes when its time is up. */
  async tombstoneAlarm(): Promise<void> {
    const tombstone = this.deps.store.get<Tombstone>(TOMBSTONE_KEY);
    if (tombstone && Date.now() >= tombstone.at + TOMBSTONE_MS) await this.deps.store.deleteAll();
  }

  /** The alarm of an ended run: move results if due, delete everything once retention is over. */
  async alarm(record: RunRecord, results: RunResults): Promise<"deleted" | "kept"> {
    const row = record.row;
    const expired = row.expiresAt !== null && Date.now() >= row.expiresAt;
    if (!expired) {
      if (results.needsMove()) await this.moveResults(results);
      if (row.expiresAt !== null) {
        // Results that could not be moved yet are tried again before the retention ends.
        const next = results.needsMove() ? Math.min(Date.now() + RESULTS_MOVE_RETRY_MS, row.expiresAt) : row.expiresAt;
        this.deps.alarm.set(next);
      }
      return "kept";
    }
    await deleteRunIndex(this.deps.env.DB, row.pipeline, row.id, row.createdAt);
    await results.deleteMoved();
    if (row.payloadsInR2) await deleteRunPayloads(this.deps.env.PAYLOADS, row.pipeline, row.id);
    // The id becomes reusable: the object holds nothing any more (deleteAll also drops the alarm).
    await this.deps.store.deleteAll();
    const now = Date.now();
    this.deps.store.put<Tombstone>(TOMBSTONE_KEY, { at: now });
    this.deps.alarm.set(now + TOMBSTONE_MS);
    return "deleted";
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
