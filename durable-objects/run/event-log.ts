/**
 * The run's event log: events get consecutive sequence numbers, are buffered during a burst of
 * progress and stored when the burst is flushed: inside the run's entry while they fit, then one
 * `ev:` entry per burst (in parts when a burst is over the entry limit: a fan-out of thousands of
 * messages). Replay reads them back by sequence.
 */
import type { RunEvent, RunEventType } from "../../src/runs/protocol";
import { approximateSize } from "./entry-size";
import type { RunRecord } from "./run-record";
import { EVENTS_PREFIX, numberKey, type RunStore } from "./run-store";
import { putSpilled, resolveSpilled } from "./spilled-values";

export type NewEvent = Omit<RunEvent, "seq" | "at">;

export class EventLog {
  private buffer: RunEvent[] = [];

  constructor(
    private readonly store: RunStore,
    /** Hands out sequence numbers and holds the inline events. */
    private readonly record: RunRecord,
    private readonly listener: (event: RunEvent) => void,
  ) {}

  append(event: NewEvent, at: number): RunEvent {
    const full: RunEvent = { seq: this.record.nextSeq(), at, type: event.type };
    if (event.step !== undefined) full.step = event.step;
    if (event.data !== undefined) full.data = event.data;
    this.buffer.push(full);
    this.listener(full);
    return full;
  }

  /** Stores the buffered events. Call inside the burst's transaction, before the record is saved. */
  flush(): void {
    const first = this.buffer[0];
    if (!first) return;
    // Measured as the entry's size is (no JSON text made only to be measured).
    if (this.record.fitsInline(approximateSize(this.buffer))) this.record.inline.events.push(...this.buffer);
    else putSpilled(this.store, numberKey(EVENTS_PREFIX, first.seq), this.buffer);
    this.buffer = [];
  }

  /** Every event with a sequence number above `afterSeq`, in order (stored and buffered). */
  replay(afterSeq = 0): RunEvent[] {
    const stored = this.record.inline.spilled
      ? this.store.list<RunEvent[]>(EVENTS_PREFIX).flatMap(([key, events]) => resolveSpilled(this.store, key, events))
      : [];
    return [...this.record.inline.events, ...stored, ...this.buffer].filter((e) => e.seq > afterSeq);
  }

  /** Events of the given types, in order. */
  ofTypes(types: readonly RunEventType[]): RunEvent[] {
    return this.replay(0).filter((e) => types.includes(e.type));
  }
}
