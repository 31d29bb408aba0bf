/**
 * The Run object's one alarm, shared by the watchdog (deadlines, leases, re-drives), retries of
 * background writes, and retention. Every `setAlarm` is a storage write, so the alarm is moved
 * only when it must fire earlier than it is set to, or to a new phase of the run.
 */
import type { RunStore } from "./run-store";

export class AlarmPlan {
  /** When the alarm is set to fire, as far as this instance knows (undefined: not known). */
  private armedAt: number | undefined;

  constructor(private readonly store: RunStore) {}

  /** Makes sure the alarm fires no later than `at`. */
  noLaterThan(at: number, options: { allowUnconfirmed?: boolean } = {}): void {
    if (this.armedAt !== undefined && this.armedAt <= at) return;
    this.set(at, options);
  }

  /** Sets the alarm to `at`, later or earlier than it was (a new phase: retention after the run). */
  set(at: number, options: { allowUnconfirmed?: boolean } = {}): void {
    this.armedAt = at;
    this.store.setAlarm(at, options);
  }

  /** The alarm fired: it is no longer set. */
  fired(): void {
    this.armedAt = undefined;
  }

  /** A new instance does not know the alarm; it makes sure one exists (without moving a set one). */
  async ensure(at: number): Promise<void> {
    if (this.armedAt !== undefined) return;
    const current = await this.store.getAlarm();
    if (current === null) this.set(at);
    else this.armedAt = current;
  }
}
