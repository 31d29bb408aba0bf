/**
 * What a run's host holds in its storage, read and changed from tests through the run's own door
 * (its RunStore: `inHostedRun(pipeline, id, (run) => storedRow(run.store))`): to move a deadline or
 * a lease into the past instead of waiting for it. A live instance keeps its own copy in memory:
 * evict it after a change.
 */
import { LocalResultStore } from "../../durable-objects/run/result-store";
import { RunRecord, type RunRow, type WorkItem } from "../../durable-objects/run/run-record";
import type { RunStore } from "../../durable-objects/run/run-store";

function loaded(store: RunStore): { store: RunStore; record: RunRecord } {
  const record = RunRecord.load(store);
  if (!record) throw new Error("this object holds no run");
  return { store, record };
}

/** Changes the stored run's row. */
export function editStoredRun(store: RunStore, edit: (row: RunRow) => void): void {
  const { record } = loaded(store);
  edit(record.row);
  record.save(store);
}

/** The stored run's row (a copy: change it with `editStoredRun`). */
export function storedRow(store: RunStore): RunRow {
  return loaded(store).record.row;
}

/** The request headers stored with the run (what its steps are handed). */
export function storedHeaders(store: RunStore): Record<string, string> {
  return loaded(store).record.row.headers;
}

/** Changes every stored work item. */
export function editStoredWork(store: RunStore, edit: (item: WorkItem) => void): void {
  const { record } = loaded(store);
  for (const item of record.work.values()) edit(item);
  record.save(store);
}

export function storedWork(store: RunStore): WorkItem[] {
  return [...loaded(store).record.work.values()];
}

/** Where each stored result's bytes are, and how many bytes are here. */
export function storedResults(store: RunStore): { location: string; size: number }[] {
  const { record } = loaded(store);
  return new LocalResultStore(store, record).rows().map((r) => ({ location: r.location, size: r.bytes?.byteLength ?? 0 }));
}

/** Every table of the host's storage (the runtime's own hidden tables aside) and every entry of the run. */
export function storedNames(store: RunStore, state: DurableObjectState): { tables: string[]; entries: string[] } {
  const tables = state.storage.sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
    .toArray()
    .map((t) => t.name)
    .filter((name) => !name.startsWith("_cf_"));
  return { tables, entries: store.list("").map(([key]) => key) };
}
