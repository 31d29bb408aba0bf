// @ts-check
/**
 * One connection to a run's event stream, until the run's last event ("ended") or until the
 * connection drops or fails ("dropped"; live.js reconnects). Two transports:
 * - EventSource, when no token is needed, or with a stream ticket (`?ticket=`) when the deployment
 *   hands them out: the browser's own SSE client;
 * - fetch, reading the stream itself, when a token must go in the Authorization header (an
 *   EventSource cannot send headers, and the token never goes into a URL).
 */
import { authedFetch, eventsPath, streamTicket } from "./api.js";
import { createParser } from "./client.js";
import { storedToken } from "./token.js";

/** @typedef {import("./client.js").RunEvent} RunEvent */

/**
 * @typedef {object} StreamHandlers
 * @property {() => void} onOpen the stream is connected
 * @property {(event: RunEvent) => void} onEvent every event, in order (a reconnection may repeat earlier ones)
 */

export const TERMINAL_EVENTS = new Set(["run_completed", "run_failed", "run_cancelled"]);

/** The native stream names each event by its type: an EventSource needs a listener per name. */
const EVENT_TYPES = [
  "run_started",
  "step_queued",
  "step_started",
  "step_retrying",
  "step_send_failed",
  "step_interrupted",
  "step_delta",
  "step_completed",
  "step_failed",
  "result",
  ...TERMINAL_EVENTS,
];

/**
 * An event of the native stream as the page keeps it. A streamed delta travels light (`{step, index,
 * delta, attempt}`, its sequence number in the SSE id): it is given the shape of the other events.
 * @param {string} name the SSE event name
 * @param {string} id the SSE id
 * @param {string} data
 * @returns {RunEvent}
 */
function eventOf(name, id, data) {
  if (name !== "step_delta") return /** @type {RunEvent} */ (JSON.parse(data));
  const { step, index, delta, attempt } = /** @type {{ step: string, index: number, delta: string, attempt: number }} */ (JSON.parse(data));
  return /** @type {RunEvent} */ ({ seq: Number(id), type: "step_delta", at: new Date().toISOString(), step, data: { index, delta, attempt } });
}

/** A connection that sees nothing for this long (heartbeats included) is taken as dropped. */
const IDLE_MS = 45_000;

/**
 * @param {string} pipeline
 * @param {string} id
 * @param {{ lastEventId: string | null, signal: AbortSignal } & StreamHandlers} options
 * @returns {Promise<"ended" | "dropped">}
 */
export async function readEvents(pipeline, id, options) {
  const path = eventsPath(pipeline, id);
  if (storedToken() === null) return viaEventSource(path, options);
  /** @type {string | null} */
  let ticket;
  try {
    ticket = await streamTicket(pipeline, id, options.signal);
  } catch {
    return "dropped"; // the server is away, or the run is not found yet: live.js tries again
  }
  if (ticket !== null) return viaEventSource(`${path}?ticket=${encodeURIComponent(ticket)}`, options);
  return viaFetch(path, options);
}

/**
 * The browser's EventSource. It would reconnect by itself, but live.js owns reconnecting (it reads
 * the run's record in between), so any error closes it. A new EventSource replays the run's events
 * from the first (it cannot send Last-Event-ID): live.js skips the ones already shown.
 * @param {string} url
 * @param {{ signal: AbortSignal } & StreamHandlers} options
 * @returns {Promise<"ended" | "dropped">}
 */
function viaEventSource(url, options) {
  return new Promise((resolve) => {
    const source = new EventSource(url);
    /** @param {"ended" | "dropped"} how */
    const finish = (how) => {
      source.close();
      options.signal.removeEventListener("abort", aborted);
      resolve(how);
    };
    const aborted = () => finish("dropped");
    options.signal.addEventListener("abort", aborted);
    source.addEventListener("open", () => options.onOpen());
    source.addEventListener("error", () => finish("dropped"));
    /** @param {MessageEvent<string>} message */
    const onMessage = (message) => {
      const event = eventOf(message.type, message.lastEventId, message.data);
      options.onEvent(event);
      if (TERMINAL_EVENTS.has(event.type)) finish("ended");
    };
    for (const type of EVENT_TYPES) source.addEventListener(type, onMessage);
  });
}

/**
 * The stream read with fetch, resuming after `lastEventId` (the server sends only later events, or
 * 204 when the run has ended and none are left).
 * @param {string} url
 * @param {{ lastEventId: string | null, signal: AbortSignal } & StreamHandlers} options
 * @returns {Promise<"ended" | "dropped">}
 */
async function viaFetch(url, options) {
  const idle = new AbortController();
  let timer = setTimeout(() => idle.abort(), IDLE_MS);
  const headers = new Headers({ accept: "text/event-stream" });
  if (options.lastEventId !== null) headers.set("last-event-id", options.lastEventId);
  let ended = false;
  /** @type {import("./client.js").RunEvent[]} */
  const pending = [];
  const parser = createParser({ onEvent: (message) => pending.push(eventOf(message.event ?? "message", message.id ?? "", message.data)) });
  try {
    const res = await authedFetch(url, { headers, signal: AbortSignal.any([options.signal, idle.signal]) });
    if (res.status === 204) return "ended";
    if (!res.ok || res.body === null) {
      await res.body?.cancel();
      return "dropped";
    }
    options.onOpen();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    while (!ended) {
      const { done, value } = await reader.read();
      if (done) break;
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(), IDLE_MS);
      parser.feed(value);
      for (const event of pending.splice(0)) {
        options.onEvent(event);
        if (TERMINAL_EVENTS.has(event.type)) ended = true;
      }
    }
    if (ended) await reader.cancel();
    return ended ? "ended" : "dropped";
  } catch {
    // A network error, a reset connection, the idle timeout, or the caller's abort.
    return "dropped";
  } finally {
    clearTimeout(timer);
  }
}
