// @ts-check
/**
 * Follows one run until its true final state, never giving up while the page shows it: the run's
 * record first (the truth), then its event stream; when the stream drops (a server restart, a
 * network change, a run not indexed yet) it reads the record again and reconnects, backing off from
 * half a second to ten (with jitter), as long as it takes. The run's end is always taken from its
 * record, never from the events alone.
 */
import { getRunRecord } from "./api.js";
import { EdgeserveError } from "./client.js";
import { readEvents } from "./stream.js";

/** @typedef {import("./client.js").RunRecord} RunRecord */
/** @typedef {import("./client.js").RunEvent} RunEvent */

/**
 * @typedef {object} RunFollower
 * @property {(record: RunRecord) => void} onRecord the run's record, each time it is read
 * @property {(event: RunEvent) => void} onEvent each event once, in order
 * @property {(state: "connecting" | "live" | "reconnecting" | "ended") => void} onConnection
 * @property {(error: unknown) => void} onError an error the user should see (the run is still followed unless it does not exist)
 */

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 10_000;

/** @param {RunRecord["status"]} status */
export const isFinal = (status) => status === "completed" || status === "failed" || status === "cancelled";

/**
 * @param {string} pipeline
 * @param {string} id
 * @param {RunFollower} follower
 * @param {AbortSignal} signal aborted when the page shows another run
 */
export async function followRun(pipeline, id, follower, signal) {
  let lastSeq = 0;
  let failures = 0;
  let streamEnded = false;
  const stream = {
    signal,
    onOpen: () => follower.onConnection("live"),
    /** @param {RunEvent} event */
    onEvent: (event) => {
      if (event.seq <= lastSeq) return; // replayed after a reconnection: shown already
      lastSeq = event.seq;
      failures = 0;
      follower.onEvent(event);
    },
  };
  follower.onConnection("connecting");
  while (!signal.aborted) {
    /** @type {RunRecord} */
    let record;
    try {
      record = await getRunRecord(pipeline, id, signal);
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof EdgeserveError && error.status === 404) {
        follower.onError(error); // no such run (or expired): nothing to wait for
        follower.onConnection("ended");
        return;
      }
      follower.onConnection("reconnecting");
      await backoff(++failures, signal);
      continue;
    }
    follower.onRecord(record);
    if (isFinal(record.status)) {
      // Ended: the events are read once more for the timeline (if this view has not seen them all),
      // then the record is shown again, so that it has the last word on every step.
      if (!streamEnded) await readEvents(pipeline, id, { ...stream, lastEventId: lastSeq > 0 ? String(lastSeq) : null });
      if (signal.aborted) return;
      follower.onRecord(record);
      follower.onConnection("ended");
      return;
    }
    const outcome = await readEvents(pipeline, id, { ...stream, lastEventId: lastSeq > 0 ? String(lastSeq) : null });
    if (signal.aborted) return;
    // After the last event the record is read at once (it is final by then); a drop waits first.
    if (outcome === "ended" && !streamEnded) {
      streamEnded = true;
      continue;
    }
    follower.onConnection("reconnecting");
    await backoff(++failures, signal);
  }
}

/**
 * @param {number} attempt 1, 2, …
 * @param {AbortSignal} signal
 * @returns {Promise<void>}
 */
function backoff(attempt, signal) {
  const ms = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (attempt - 1)) * (0.75 + Math.random() * 0.5);
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
