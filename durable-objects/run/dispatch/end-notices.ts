/**
 * A run that ends (cancelled, failed, timed out) while invocations of it wait in function
 * addresses' mailboxes tells those addresses, so they drop them without calling the function.
 * The addresses are the run's remote work items that were ever handed over; the list is stored
 * with the run when it ends, sent once the end is persisted, and what could not be told is told
 * again from the alarm, with the send backoff (failed-sends.ts). Each invocation also carries the
 * run's deadline, after which its address drops it unasked: the backstop when telling fails.
 */
import { loadMessage } from "../../../src/pipeline/message";
import type { Pipeline } from "../../../src/pipeline/graph";
import { invocationAddress } from "../../../src/remote/invocation";
import { addressName } from "../../../src/remote/protocol";
import type { RunRecord } from "../run-record";
import { sendRetryDelayMs } from "./failed-sends";
import type { DispatchHost } from "./step-dispatcher";

/** The addresses the run's remote work items were handed to (an item is counted from its first dispatch). */
export function handedOverAddresses(record: RunRecord, pipeline: Pipeline): string[] {
  const addresses = new Set<string>();
  for (const item of record.work.values()) {
    const step = pipeline.step(item.step);
    if (step.kind !== "remote" || item.attempt === 0) continue;
    addresses.add(addressName(invocationAddress(step, loadMessage(item.message), record.row.id)));
  }
  return [...addresses];
}

export class EndNotices {
  private telling = false;
  private failures = 0;

  constructor(private readonly host: DispatchHost) {}

  /** Tells every address still to be told that the run ended; what fails stays for the alarm. */
  tell(): void {
    const { record, tellRunEnded, alarm, now } = this.host.options;
    const addresses = record.row.endNotices;
    if (!addresses?.length || this.telling) return;
    this.telling = true;
    void tellRunEnded(addresses, { runId: record.row.id, deadlineAt: record.row.deadlineAt }).then((outcomes) => {
      const left = addresses.filter((_, i) => outcomes[i] instanceof Error);
      if (left.length > 0) {
        this.failures += 1;
        const retryIn = sendRetryDelayMs(this.failures);
        record.row.endNotices = left;
        alarm.noLaterThan(now() + retryIn);
        const error = outcomes.find((o): o is Error => o instanceof Error);
        console.error(`edgeserve: telling ${left.length} function addresses that run ${record.row.id} ended failed, again in ${retryIn} ms: ${error?.message}`);
      } else {
        delete record.row.endNotices;
      }
      // Persisted before `telling` clears: the flush must not start another round.
      this.host.flush();
      this.telling = false;
    });
  }
}
