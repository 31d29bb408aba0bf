/** The delay before a queued step's next attempt. Pure module: no platform imports. */
import type { RetryPolicy } from "./definition";

/**
 * Exponential backoff: `backoffSeconds × backoffMultiplier^(attempt − 1)`, capped at
 * `maxBackoffSeconds`, rounded up to whole seconds (the unit Queues delay messages in).
 */
export function backoffSeconds(policy: RetryPolicy, failedAttempt: number): number {
  const raw = policy.backoffSeconds * policy.backoffMultiplier ** Math.max(0, failedAttempt - 1);
  return Math.ceil(Math.min(raw, policy.maxBackoffSeconds));
}
