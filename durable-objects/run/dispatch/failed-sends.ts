/**
 * What happens to a work item whose send failed (the stage queue refused the message, a function
 * address could not be reached): the send is not counted, the item waits and goes again with a
 * backoff (1 s, doubled each time, at most a minute), and the run's log says so. A send that never
 * gets through leaves the run to its deadline, whose error then names the last refusal.
 */
import type { WorkItem } from "../run-record";
import type { DispatchHost } from "./step-dispatcher";

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;
/** How much of the transport's error a work item keeps. */
const ERROR_MAX_CHARS = 500;

/** The wait before the next try after `failures` sends in a row failed. */
export function sendRetryDelayMs(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

/** The items `sent` (each with the send number it went out with) failed to go: each waits and goes again. */
export function sendsFailed(host: DispatchHost, sent: readonly { key: string; sends: number }[], error: unknown): void {
  const { record, events, now } = host.options;
  if (record.terminal) return;
  const text = (error instanceof Error ? error.message : String(error)).slice(0, ERROR_MAX_CHARS);
  let changed = false;
  for (const { key, sends } of sent) {
    const item = record.work.get(key);
    // A later send of the item (or its end) has overtaken this one.
    if (item?.state !== "queued" || item.sends !== sends) continue;
    item.state = "pending";
    item.sends -= 1;
    item.sendFailures = (item.sendFailures ?? 0) + 1;
    item.lastSendError = text;
    const delay = sendRetryDelayMs(item.sendFailures);
    item.leaseUntil = now() + delay;
    events.append({ type: "step_send_failed", step: item.step, data: { key, failures: item.sendFailures, error: text, retry_in_ms: delay } }, now());
    changed = true;
  }
  if (changed) host.flush();
}

/** The items went: their run of failures is over. */
export function sendsSucceeded(host: DispatchHost, sent: readonly { key: string }[]): void {
  for (const { key } of sent) {
    const item = host.options.record.work.get(key);
    if (item?.sendFailures) item.sendFailures = 0;
  }
}

/** Why a run that reached its deadline could not go on, when sends kept failing: the last refusal. */
export function failedSendsNote(items: Iterable<WorkItem>): string {
  for (const item of items) {
    if (item.sendFailures && item.lastSendError !== undefined) {
      return `; step '${item.step}' could not be sent (${item.sendFailures} tries in a row failed, the last with: ${item.lastSendError})`;
    }
  }
  return "";
}
