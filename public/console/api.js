// @ts-check
/**
 * Every request the console makes goes through `authedFetch`: the stored token (if any) goes in the
 * Authorization header, and a 401 asks for a token and tries again. The typed client (client.js,
 * bundled from src/client/ by `npm run build`) covers the native API by run id; the routes that
 * address a run with its pipeline (any surface's run) are here.
 */
import { EdgeserveClient, EdgeserveError } from "./client.js";
import { askForToken, storedToken } from "./token.js";

/** @typedef {import("./client.js").RunRecord} RunRecord */

/**
 * fetch with the token in the Authorization header; a 401 asks for a token (visibly) and tries again.
 * @param {string} url a path on this origin: never holds the token
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export async function authedFetch(url, init = {}) {
  for (;;) {
    const token = storedToken();
    const headers = new Headers(init.headers);
    if (token) headers.set("authorization", `Bearer ${token}`);
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 401) return res;
    await res.body?.cancel();
    await askForToken(token ? "refused" : "missing");
  }
}

export const client = new EdgeserveClient({
  baseUrl: location.origin,
  fetch: (input, init) => authedFetch(input instanceof Request ? input.url : String(input), init),
});

const enc = encodeURIComponent;

/** A run addressed with its pipeline: works for a run of any surface, indexed or not yet. */
export const runPath = (/** @type {string} */ pipeline, /** @type {string} */ id) => `/v1/pipelines/${enc(pipeline)}/runs/${enc(id)}`;

/**
 * Where a run's events are read (native SSE, resumable with Last-Event-ID): the pipeline-scoped
 * route, which reaches the run's object at once for a run of any surface, and takes a stream
 * ticket (`?ticket=`) in place of the token.
 */
export const eventsPath = (/** @type {string} */ pipeline, /** @type {string} */ id) => `${runPath(pipeline, id)}/events`;

/** The page's URL of a run: opening it shows the run live. */
export const runHref = (/** @type {string} */ pipeline, /** @type {string} */ id) => `/?pipeline=${enc(pipeline)}&run=${enc(id)}`;

/**
 * @param {string} pipeline
 * @param {string} id
 * @param {AbortSignal} [signal]
 * @returns {Promise<RunRecord>}
 */
export async function getRunRecord(pipeline, id, signal) {
  return /** @type {RunRecord} */ (await json(await authedFetch(runPath(pipeline, id), signal ? { signal } : {})));
}

/**
 * @param {string} pipeline
 * @param {string} id
 * @returns {Promise<RunRecord>}
 */
export async function cancelRun(pipeline, id) {
  return /** @type {RunRecord} */ (await json(await authedFetch(`${runPath(pipeline, id)}/cancel`, { method: "POST" })));
}

/** @type {boolean | undefined} whether the deployment hands out stream tickets: learnt on the first try */
let ticketsServed;

/**
 * A short-lived ticket that lets an EventSource (which cannot send headers) read a run's events when
 * the deployment has tokens; null when the deployment does not hand out tickets.
 * @param {string} pipeline
 * @param {string} id
 * @param {AbortSignal} signal
 * @returns {Promise<string | null>}
 */
export async function streamTicket(pipeline, id, signal) {
  if (ticketsServed === false) return null;
  const res = await authedFetch(`${runPath(pipeline, id)}/stream-ticket`, { method: "POST", signal });
  if (res.status === 405 || (res.status === 404 && (await errorOf(res.clone())).code === "route_not_found")) {
    ticketsServed = false;
    return null;
  }
  ticketsServed = true;
  return /** @type {{ ticket: string, expires_at: string }} */ (await json(res)).ticket;
}

/**
 * Runs a memory-only pipeline through the Numaflow sync route (its runs are not stored: nothing to
 * watch or open later). Answers its run id and results (JSON-decoded when they are JSON).
 * @param {string} pipeline
 * @param {unknown} input
 * @returns {Promise<{ id: string | null, results: unknown[] }>}
 */
export async function runInMemory(pipeline, input) {
  const res = await authedFetch(`/pipelines/${enc(pipeline)}/v1/process/sync`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(input),
  });
  if (!res.ok) throw await errorOf(res);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const lengths = (res.headers.get("numaflow-array-index-len") ?? String(bytes.byteLength)).split(",").map(Number);
  const results = [];
  let offset = 0;
  for (const length of lengths) {
    results.push(decoded(bytes.subarray(offset, offset + length)));
    offset += length;
  }
  return { id: res.headers.get("x-numaflow-id"), results };
}

/** @param {Uint8Array} bytes */
function decoded(bytes) {
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * @param {Response} res
 * @returns {Promise<unknown>}
 */
async function json(res) {
  if (!res.ok) throw await errorOf(res);
  return res.json();
}

/**
 * The error a response answers, in the native shape whatever the surface (Numaflow's `error_code`).
 * @param {Response} res
 * @returns {Promise<EdgeserveError>}
 */
export async function errorOf(res) {
  const text = await res.text();
  /** @type {{ code?: unknown, error_code?: unknown, message?: unknown, details?: { path: (string | number)[], message: string }[] }} */
  let body = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: described by its status below
  }
  const code = typeof body.error_code === "string" ? body.error_code : typeof body.code === "string" ? body.code : `http_${res.status}`;
  const message = typeof body.message === "string" ? body.message : text || res.statusText;
  return new EdgeserveError(res.status, { code, message, ...(body.details ? { details: body.details } : {}) });
}
