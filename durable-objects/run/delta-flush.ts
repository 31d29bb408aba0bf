/**
 * When a streaming step's deltas are written: coalesced, never a row per token. Deltas are
 * published to subscribers the moment they are emitted; storage catches up at most `maxDelayMs`
 * later, or at once when `maxBytes` of text or `maxDeltas` deltas are waiting. (A delta that is
 * published but not yet written when the object dies is lost with its attempt: the step runs
 * again, and sequence numbers are never reused — see RunRecord.load.)
 */
export interface DeltaFlushLimits {
  maxDelayMs: number;
  maxBytes: number;
  maxDeltas: number;
}

export const DELTA_FLUSH_LIMITS: DeltaFlushLimits = { maxDelayMs: 100, maxBytes: 4096, maxDeltas: 500 };

export class DeltaFlush {
  private bytes = 0;
  private count = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    /** Writes everything waiting (the orchestrator's flush). */
    private readonly write: () => void,
    private readonly limits: DeltaFlushLimits = DELTA_FLUSH_LIMITS,
    private readonly timers: { set: typeof setTimeout; clear: typeof clearTimeout } = { set: setTimeout, clear: clearTimeout },
  ) {}

  /** A delta of `bytes` was appended: write now if enough is waiting, else within the delay. */
  added(bytes: number): void {
    this.bytes += bytes;
    this.count += 1;
    if (this.bytes >= this.limits.maxBytes || this.count >= this.limits.maxDeltas) return this.write();
    this.timer ??= this.timers.set(() => {
      this.timer = undefined;
      this.write();
    }, this.limits.maxDelayMs);
  }

  /** Everything waiting was written (by this or by any other flush of the run). */
  written(): void {
    this.bytes = 0;
    this.count = 0;
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
  }
}
