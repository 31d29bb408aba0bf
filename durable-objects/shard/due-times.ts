/**
 * A journal shard's one alarm, shared by every run it holds: each run's alarm is an entry
 * `due:<time>:<run id>` (keys sort by time, so the first entry is the earliest), and the shard's
 * alarm is kept at the first entry's time. When it fires, the runs whose time has come have their
 * alarm handled (deadlines, re-drives, retries, retention), then the alarm moves to the next entry.
 *
 * A run's entry is a key-value put like the run's own writes, so it commits with them. An instance
 * that starts after a reset does not know which entry is whose: a run that sets its alarm then
 * leaves its older entry behind, which fires once for nothing (a run's alarm handler tolerates
 * that, as it tolerates an early platform alarm).
 *
 * A firing waits for its runs' handlers only so long (FIRE_WAIT_MS): one stuck on a slow dependency
 * (R2, KV, a queue) goes on alone, and the alarm moves on to the next run not being handled, so it
 * does not hold every other run's deadline back. A run is never handled twice at once: its entries
 * wait while its handler runs, and the alarm comes back for them when it is done.
 */
import type { RunAlarm } from "../run/run-store";

const DUE_PREFIX = "due:";
/** Runs whose alarm is handled at once, a firing's and stragglers of earlier ones together; the rest wait for the next firing. */
const FIRE_BATCH = 200;
/** How long a firing waits for its handlers before the alarm moves on without those still running. */
export const FIRE_WAIT_MS = 1_000;
/** A handler still running after this long is stuck: the shard restarts (as the platform ends an alarm after 15 minutes). */
const HANDLER_LIMIT_MS = 15 * 60_000;
/** How soon a run whose alarm handler threw is tried again. */
const RETRY_MS = 30_000;
const TIME_DIGITS = 15;

const dueKey = (at: number, runId: string) => `${DUE_PREFIX}${String(at).padStart(TIME_DIGITS, "0")}:${runId}`;

function parseDueKey(key: string): { at: number; runId: string } {
  const at = Number(key.slice(DUE_PREFIX.length, DUE_PREFIX.length + TIME_DIGITS));
  return { at, runId: key.slice(DUE_PREFIX.length + TIME_DIGITS + 1) };
}

export class DueTimes {
  /** The time each run's entry holds, as far as this instance knows. */
  private readonly dueOf = new Map<string, number>();
  /** When the shard's alarm is set to fire (undefined: not set). */
  private armedAt: number | undefined;
  /** Runs whose alarm handler is running (a firing's, or one it stopped waiting for). */
  private readonly handling = new Set<string>();
  /** Handlers that may run at once (FIRE_BATCH; tests make it smaller). */
  batch = FIRE_BATCH;
  /** How long a handler may run (HANDLER_LIMIT_MS; tests make it shorter). */
  handlerLimitMs = HANDLER_LIMIT_MS;

  /** `stuck` is told of a handler still running after `handlerLimitMs`; its shard restarts then. */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly stuck: (runId: string, ms: number) => void = () => undefined,
  ) {}

  /** A new instance: the alarm must be at the first entry (it is, unless a write was lost with a reset). */
  async restore(): Promise<void> {
    const first = this.firstNotHandled();
    const armed = await this.storage.getAlarm();
    this.armedAt = armed ?? undefined;
    if (first !== undefined && (armed === null || armed > first)) this.arm(first);
  }

  /** The alarm of one run, as its store (run-store.ts) uses it. */
  alarmOf(runId: string): RunAlarm {
    return {
      set: (at) => this.set(runId, at),
      // Entries commit with the run's writes, so a run here has its entry; only this instance may not know when.
      get: () => Promise.resolve(this.dueOf.get(runId) ?? Number.MAX_SAFE_INTEGER),
      clear: () => this.clear(runId),
    };
  }

  /** Fires the runs whose time has come (`fire` handles one run's alarm), then arms the next. */
  async fire(fire: (runId: string) => Promise<void>): Promise<void> {
    this.armedAt = undefined;
    const round = { over: false };
    const handled = Promise.all(this.dueNow().map((entry) => this.handle(entry, fire, round)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([handled, new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRE_WAIT_MS)))]);
    if (timer !== undefined) clearTimeout(timer);
    round.over = true;
    this.armNext();
  }

  /** Entries due now, of runs not being handled, one per run, no more than the batch has room for. */
  private dueNow(): { key: string; at: number; runId: string }[] {
    const now = Date.now();
    const room = this.batch - this.handling.size;
    const due: { key: string; at: number; runId: string }[] = [];
    const runs = new Set<string>();
    for (const [key] of this.storage.kv.list({ prefix: DUE_PREFIX })) {
      if (due.length >= room) break;
      const entry = { key, ...parseDueKey(key) };
      if (entry.at > now) break;
      if (this.handling.has(entry.runId) || runs.has(entry.runId)) continue;
      runs.add(entry.runId);
      due.push(entry);
    }
    return due;
  }

  private async handle({ key, at, runId }: { key: string; at: number; runId: string }, fire: (runId: string) => Promise<void>, round: { over: boolean }) {
    this.handling.add(runId);
    // The run's handler may set a new time (its old entry goes then); it starts from none.
    if (this.dueOf.get(runId) === at) this.dueOf.delete(runId);
    const limit = this.handlerLimitMs;
    const watch = setTimeout(() => this.stuck(runId, limit), limit);
    try {
      await fire(runId);
    } catch (error) {
      console.error(`edgeserve shard: the alarm of run ${runId} failed, will retry: ${String(error)}`);
      const retryAt = Date.now() + RETRY_MS;
      const known = this.dueOf.get(runId);
      if (known === undefined || known > retryAt) this.set(runId, retryAt);
    } finally {
      clearTimeout(watch);
      this.handling.delete(runId);
    }
    // Handled: its entry goes, unless the handler set this very time again.
    if (this.dueOf.get(runId) !== at) this.storage.kv.delete(key);
    // Done after its firing stopped waiting: the alarm skipped this run's entries meanwhile.
    if (round.over) this.armNext();
  }

  /**
   * The alarm at the first entry of a run not being handled; only a different time moves it. With
   * the batch full of handlers still running, a firing could start none: the alarm waits a while
   * (a straggler that finishes re-arms it sooner) instead of firing again at once, and again.
   */
  private armNext(): void {
    let next = this.firstNotHandled();
    if (next === undefined) return;
    if (this.handling.size >= this.batch) next = Math.max(next, Date.now() + FIRE_WAIT_MS);
    if (next !== this.armedAt) this.arm(next);
  }

  /**
   * The shard lets go of the run (it keeps in memory only what its runs in memory need): its entry
   * stays and fires, but this instance no longer knows its time. Should the run set a new time
   * after it is loaded again, the old entry is left behind and fires once for nothing.
   */
  forget(runId: string): void {
    this.dueOf.delete(runId);
  }

  /** Whether this instance knows the run's entry (tests: what it keeps in memory). */
  knows(runId: string): boolean {
    return this.dueOf.has(runId);
  }

  /** When the run's earliest entry is due (undefined: none); scans the table, so for tests and tools only. */
  dueAt(runId: string): number | undefined {
    return this.entriesOf(runId)[0]?.at;
  }

  /**
   * Handles one run's alarm now, as `fire` does when its time has come (tests run a run's alarm
   * early this way, as `runDurableObjectAlarm` runs an object's); false when the run had no entry.
   */
  async fireNow(runId: string, fire: (runId: string) => Promise<void>): Promise<boolean> {
    const entries = this.entriesOf(runId);
    if (entries.length === 0) return false;
    for (const { key } of entries) this.storage.kv.delete(key);
    this.dueOf.delete(runId);
    await fire(runId);
    return true;
  }

  /** Every entry of one run, earliest first (a scan of the whole table). */
  private entriesOf(runId: string): { key: string; at: number }[] {
    return [...this.storage.kv.list({ prefix: DUE_PREFIX })].map(([key]) => ({ key, ...parseDueKey(key) })).filter((entry) => entry.runId === runId);
  }

  /** Sets a run's entry to `at`; the rows written (the shard's alarm too, when the run moves it). */
  private set(runId: string, at: number): number {
    const old = this.dueOf.get(runId);
    if (old === at) return 0;
    let rows = 0;
    if (old !== undefined && this.storage.kv.delete(dueKey(old, runId))) rows += 1;
    this.storage.kv.put(dueKey(at, runId), 1);
    this.dueOf.set(runId, at);
    rows += 1;
    if (this.armedAt === undefined || at < this.armedAt) {
      this.arm(at);
      rows += 1;
    }
    return rows;
  }

  /** The run is gone: its entry too (as far as this instance knows it). */
  private clear(runId: string): number {
    const old = this.dueOf.get(runId);
    this.dueOf.delete(runId);
    return old !== undefined && this.storage.kv.delete(dueKey(old, runId)) ? 1 : 0;
  }

  /** The time of the first entry of a run whose handler is not running (the first entry, when none is). */
  private firstNotHandled(): number | undefined {
    const limit = this.handling.size === 0 ? 1 : undefined;
    for (const [key] of this.storage.kv.list({ prefix: DUE_PREFIX, limit })) {
      const entry = parseDueKey(key);
      if (!this.handling.has(entry.runId)) return entry.at;
    }
    return undefined;
  }

  private arm(at: number): void {
    this.armedAt = at;
    void this.storage.setAlarm(at);
  }
}
