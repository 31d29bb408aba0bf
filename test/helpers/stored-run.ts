/**
 * What a Run object holds in its storage, read and changed from tests through the object's own
 * door (durable-objects/run/run-store.ts): to move a deadline or a lease into the past instead of
 * waiting for it. A live instance keeps its own copy in memory: evict it after a change.
 */
import { LocalResultStore } from "../../durable-objects/run/result-store";
import { RunRecord, type RunRow, type WorkItem } from "../../durable-objects/run/run-record";
import { RunStore } from "../../durable-objects/run/run-store";

function loaded(state: DurableObjectState): { store: RunStore; record: RunRecord } {
  const store = new RunStore(state.storage);
  const record = RunRecord.load(store);
  if (!record) throw new Error("this object holds no run");
  return { store, record };
}

/** Changes the stored run's row. */
export function editStoredRun(state: DurableObjectState, edit: (row: RunRow) => void): void {
  const { store, record } = loaded(state);
  edit(record.row);
  record.save(store);
}

/** The stored run's row (a copy: change it with `editStoredRun`). */
export function storedRow(state: DurableObjectState): RunRow {
  return loaded(state).record.row;
}

/** The request headers stored with the run (what its steps are handed). */
export function storedHeaders(state: DurableObjectState): Record<string, string> {
  return loaded(state).record.row.headers;
}

/** Changes every stored work item. */
export function editStoredWork(state: DurableObjectState, edit: (item: WorkItem) => void): void {
  const { store, record } = loaded(state);
  for (const item of record.work.values()) edit(item);
  record.save(store);
}

export function storedWork(state: DurableObjectState): WorkItem[] {
  return [...loaded(state).record.work.values()];
}

/** Where each stored result's bytes are, and how many bytes are here. */
export function storedResults(state: DurableObjectState): { location: string; size: number }[] {
  const { store, record } = loaded(state);
  return new LocalResultStore(store, record).rows().map((r) => ({ location: r.location, size: r.bytes?.byteLength ?? 0 }));
}

/** Every table and entry the object's storage holds (the runtime's own hidden tables aside). */
export function storedNames(state: DurableObjectState): { tables: string[]; entries: string[] } {
  const tables = state.storage.sql
    .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
    .toArray()
    .map((t) => t.name)
    .filter((name) => !name.startsWith("_cf_"));
  return { tables, entries: [...state.storage.kv.list()].map(([key]) => key) };
}
