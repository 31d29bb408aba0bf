/**
 * The only door to a Run object's storage: Durable Object's synchronous key-value API (entries in
 * the object's SQLite), and its alarm. It counts the rows it writes the way Cloudflare bills them:
 * one per entry put or deleted, one per `setAlarm`.
 *
 * Why entries rather than tables: every CREATE TABLE is two rows written, paid again by every run
 * (each run is a new object), while the entry table exists already. A run that ends in one burst
 * writes one entry (the run, with its events and results inside it) and its retention alarm.
 *
 * The entries (see run-record.ts for what each holds):
 * - `run`: the run's row, and its first events and results while they are small;
 * - `ev:<first seq>`: a later burst's events; `res:<index>`: a later result;
 *   `part:<index>:<n>`: the parts of a result over the row limit;
 * - `work:<key>`: a work item that outlived the burst that made it;
 * - `input`: a large input, out of the run entry (rewritten at every burst);
 * - `big:<key>:<n>`: parts of a value too large for one entry (spilled-values.ts);
 * - `expired`: what is left after retention (retention.ts).
 *
 * Every entry is measured against the platform's limit before it is written (entry-size.ts).
 *
 * A store is scoped to one run: on the object host the run has the object to itself (no prefix,
 * the object's alarm); in a journal shard (durable-objects/shard/) many runs share one object, so
 * each run's keys carry its prefix and its alarm is an entry in the shard's due-time table.
 */
import { approximateSize, ENTRY_MAX_BYTES, EntryTooLargeError } from "./entry-size";

export const RUN_KEY = "run";
export const EVENTS_PREFIX = "ev:";
export const RESULTS_PREFIX = "res:";
export const PARTS_PREFIX = "part:";
export const WORK_PREFIX = "work:";
export const INPUT_KEY = "input";

/** Sequence numbers and indexes in keys are zero-padded, so keys sort as the numbers do. */
export function numberKey(prefix: string, n: number): string {
  return `${prefix}${String(n).padStart(12, "0")}`;
}

/** A run's alarm: the object's own, or the run's entry in its shard's due-time table. */
export interface RunAlarm {
  /** Sets the run's alarm to `at`; returns the rows it wrote. */
  set(at: number, options: { allowUnconfirmed?: boolean }): number;
  /** When the alarm is set to fire; null when it is not set. */
  get(): Promise<number | null>;
  /** Everything of the run goes; returns the rows deleted beyond the run's entries (its alarm). */
  clear(): number;
}

/** The object's own alarm: the object holds one run (the object host). */
function objectAlarm(storage: DurableObjectStorage): RunAlarm {
  return {
    set: (at, options) => {
      void storage.setAlarm(at, options);
      return 1;
    },
    get: () => storage.getAlarm(),
    clear: () => 0,
  };
}

export interface RunStoreScope {
  /** Put before every key of the run (empty when the run has the object to itself). */
  prefix: string;
  alarm: RunAlarm;
}

export class RunStore {
  /** Rows written through this door since the instance was constructed. */
  rowsWritten = 0;

  /**
   * Fault injection for tests (reachable only through `runInDurableObject`): the next write throws
   * this error instead of writing, as a refused or failed storage write would.
   */
  failNextWrite: Error | undefined;

  private readonly prefix: string;
  private readonly alarm: RunAlarm;

  constructor(
    private readonly storage: DurableObjectStorage,
    /**
     * Called when a transaction fails (a write refused, storage unavailable): what is in memory
     * no longer matches storage, so the owner resets its object rather than keep a phantom run.
     */
    private readonly transactionFailed: (error: unknown) => never = (error) => {
      throw error;
    },
    scope?: RunStoreScope,
  ) {
    this.prefix = scope?.prefix ?? "";
    this.alarm = scope?.alarm ?? objectAlarm(storage);
  }

  get<T>(key: string): T | undefined {
    return this.storage.kv.get<T>(this.prefix + key);
  }

  put<T>(key: string, value: T): void {
    const fault = this.failNextWrite;
    if (fault) {
      this.failNextWrite = undefined;
      throw fault;
    }
    const bytes = this.prefix.length + key.length + approximateSize(value);
    if (bytes > ENTRY_MAX_BYTES) throw new EntryTooLargeError(key, bytes);
    this.storage.kv.put(this.prefix + key, value);
    this.rowsWritten += 1;
  }

  delete(key: string): void {
    if (this.storage.kv.delete(this.prefix + key)) this.rowsWritten += 1;
  }

  /** Every entry under `prefix`, in key order (keys as the run names them, without its scope). */
  list<T>(prefix: string): [string, T][] {
    const scoped = this.prefix.length;
    return [...this.storage.kv.list<T>({ prefix: this.prefix + prefix })].map(([key, value]) => [key.slice(scoped), value]);
  }

  /** Runs `body` as one transaction (a burst commits whole or not at all). */
  transaction<T>(body: () => T): T {
    try {
      return this.storage.transactionSync(body);
    } catch (error) {
      return this.transactionFailed(error);
    }
  }

  setAlarm(at: number, options: { allowUnconfirmed?: boolean } = {}): void {
    this.rowsWritten += this.alarm.set(at, options);
  }

  getAlarm(): Promise<number | null> {
    return this.alarm.get();
  }

  /** Everything of the run goes, its alarm included. */
  async deleteAll(): Promise<void> {
    if (this.prefix === "") return this.storage.deleteAll();
    for (const [key] of this.storage.kv.list({ prefix: this.prefix })) this.delete(key.slice(this.prefix.length));
    this.rowsWritten += this.alarm.clear();
  }
}
