/**
 * The run's event log: events get consecutive sequence numbers, are buffered during a burst of
 * progress and written as one row when the burst is flushed; replay reads them back by sequence.
 */
import type { RunEvent, RunEventType } from "../../src/runs/protocol";
import type { Sql } from "./sql";

export type NewEvent = Omit<RunEvent, "seq" | "at">;

export class EventLog {
  private buffer: RunEvent[] = [];

  constructor(
    private readonly sql: Sql,
    /** The next sequence number to hand out; owned by the run record. */
    private readonly sequence: { next(): number },
    private readonly listener: (event: RunEvent) => void,
  ) {}

  append(event: NewEvent, at: number): RunEvent {
    const full: RunEvent = { seq: this.sequence.next(), at, type: event.type };
    if (event.step !== undefined) full.step = event.step;
    if (event.data !== undefined) full.data = event.data;
    this.buffer.push(full);
    this.listener(full);
    return full;
  }

  /** Writes the buffered events as one row. Call inside the burst's transaction. */
  flush(): void {
    const first = this.buffer[0];
    const last = this.buffer[this.buffer.length - 1];
    if (!first || !last) return;
    this.sql.run(
      "INSERT INTO events (first_seq, last_seq, body) VALUES (?, ?, ?)",
      first.seq,
      last.seq,
      JSON.stringify(this.buffer),
    );
    this.buffer = [];
  }

  /** Every event with a sequence number above `afterSeq`, in order (flushed and buffered). */
  replay(afterSeq = 0): RunEvent[] {
    const rows = this.sql.all<{ body: string }>(
      "SELECT body FROM events WHERE last_seq > ? ORDER BY first_seq",
      afterSeq,
    );
    const stored = rows.flatMap((row) => JSON.parse(row.body) as RunEvent[]);
    return [...stored, ...this.buffer].filter((e) => e.seq > afterSeq);
  }

  /** Events of the given types, in order. */
  ofTypes(types: readonly RunEventType[]): RunEvent[] {
    return this.replay(0).filter((e) => types.includes(e.type));
  }
}
