/**
 * What a function address knows of endpoints that do not answer: per URL, the last cause and the
 * failed attempts since it last answered (kept in memory: an address that restarts learns again
 * from its next call). While an endpoint is down, an invocation waiting behind other batches would
 * otherwise outlive its run's deadline and end it as `run_timeout`; instead, once its run's report
 * is due (`REPORT_MARGIN_MS` before the deadline) it fails with the endpoint's last error.
 */
import type { MailboxEntry } from "./function-store";

/** How long before its run's deadline an invocation's outcome is due at the address, so the run hears it in time. */
export const REPORT_MARGIN_MS = 500;
/** The least time a batch is given, even when its run's report is due sooner. */
export const MIN_CALL_MS = 250;

interface Outage {
  cause: string;
  attempts: number;
}

/** When the outcome of `entry` is due (undefined for an invocation without its run's deadline). */
export function reportDueAt(entry: MailboxEntry): number | undefined {
  return entry.deadlineAt === null ? undefined : entry.deadlineAt - REPORT_MARGIN_MS;
}

/** How long a batch may go on: the endpoint's `call` budget, cut to when its run's report is due. */
export function callNotAfter(batch: readonly MailboxEntry[], now: number): number | undefined {
  const due = batch.map(reportDueAt).filter((at): at is number => at !== undefined);
  return due.length === 0 ? undefined : Math.max(Math.min(...due), now + MIN_CALL_MS);
}

export class Outages {
  private readonly byUrl = new Map<string, Outage>();

  get any(): boolean {
    return this.byUrl.size > 0;
  }

  /** An attempt at `url` failed without an answer the transport accepts as final. */
  failed(url: string, cause: string): void {
    const outage = this.byUrl.get(url);
    this.byUrl.set(url, { cause, attempts: (outage?.attempts ?? 0) + 1 });
  }

  /** The endpoint at `url` answered (whatever the answer): it is up. */
  answered(url: string): void {
    this.byUrl.delete(url);
  }

  /** The waiting invocations (not `inFlight`) whose report is due at `now` and whose endpoint is down. */
  due(waiting: readonly MailboxEntry[], now: number, inFlight: ReadonlySet<number>): MailboxEntry[] {
    return waiting.filter((entry) => {
      const at = reportDueAt(entry);
      return at !== undefined && at <= now && !inFlight.has(entry.seq) && this.byUrl.has(entry.call.url);
    });
  }

  /** When the next waiting invocation at a down endpoint becomes due, if any. */
  nextDueAt(waiting: readonly MailboxEntry[], inFlight: ReadonlySet<number>): number | undefined {
    let next: number | undefined;
    for (const entry of waiting) {
      const at = reportDueAt(entry);
      if (at === undefined || inFlight.has(entry.seq) || !this.byUrl.has(entry.call.url)) continue;
      if (next === undefined || at < next) next = at;
    }
    return next;
  }

  /** The error an invocation due at a down endpoint fails with. */
  failure(entry: MailboxEntry): string {
    const outage = this.byUrl.get(entry.call.url);
    const { namespace, type } = entry.address;
    const attempts = outage?.attempts === 1 ? "1 attempt" : `${outage?.attempts ?? 0} attempts`;
    const cause = (outage?.cause ?? "no cause recorded").replace(/\.$/, "");
    return `remote function ${namespace}/${type} at ${entry.call.url} unreachable: ${cause} after ${attempts}`;
  }
}
