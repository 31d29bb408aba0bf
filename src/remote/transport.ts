/**
 * One call to a remote function, as StateFun's HTTP transports make it: a `ToFunction` POSTed as
 * `application/octet-stream`, retried until the `call` budget is spent.
 * - OkHttp (the default): retried on connection failures and on 408, 409, 420, 429, 499 and 5xx,
 *   with backoff from 10 ms, doubling; any other answer fails at once. Workers' fetch has no
 *   socket-level timeouts, so each attempt is bounded by `connect + write + read`.
 * - Async: every failure but a timeout is retried (any non-2xx, a wrong content type, a lost
 *   connection, an answer too large or not a FromFunction), with backoff from 2 ms, doubling; each
 *   attempt may take what is left of the budget.
 * The caller may end the budget sooner (`notAfter`: its run's deadline) and hear of each failed
 * attempt (`onAttemptFailed`).
 */
import { concatBytes } from "../bytes";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { FromFunctionSchema, ToFunctionSchema, type FromFunction, type ToFunction } from "./proto/io/statefun/request_reply_pb";

export interface CallOptions {
  url: string;
  transport: "okhttp" | "async";
  timeouts: { call: number; connect: number; read: number; write: number };
  payloadMaxBytes: number;
}

/** A call that failed for good; `message` says why, with the last cause. */
export class RemoteCallError extends Error {
  override readonly name = "RemoteCallError";
}

export interface CallLimits {
  /** No attempt goes on past this time (epoch ms), whatever is left of the `call` budget. */
  notAfter?: number;
  /** Each failed attempt: its cause, and whether it is retried (the endpoint did not answer, or answered a retryable status). */
  onAttemptFailed?: (cause: string, retryable: boolean) => void;
}

const RETRYABLE_STATUSES = new Set([408, 409, 420, 429, 499]);
const FIRST_BACKOFF_MS = { okhttp: 10, async: 2 } as const;
const CONTENT_TYPE = "application/octet-stream";

export async function callFunction(request: ToFunction, options: CallOptions, limits: CallLimits = {}): Promise<FromFunction> {
  const body = toBinary(ToFunctionSchema, request);
  if (body.byteLength > options.payloadMaxBytes) {
    throw new RemoteCallError(`the request (${body.byteLength} bytes) exceeds payload_max_bytes (${options.payloadMaxBytes})`);
  }
  const { call, connect, read, write } = options.timeouts;
  const started = Date.now();
  const capped = limits.notAfter !== undefined && limits.notAfter < started + call;
  const deadline = capped && limits.notAfter !== undefined ? limits.notAfter : started + call;
  let lastCause = "no attempt was made";
  for (let attempt = 0; ; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining < 1) break;
    const attemptMs = options.transport === "async" ? remaining : Math.min(remaining, connect + write + read);
    const outcome = await attemptCall(options, body, attemptMs);
    if ("response" in outcome) return outcome.response;
    lastCause = outcome.cause;
    const retryable = isRetryable(outcome, options.transport);
    limits.onAttemptFailed?.(outcome.cause, retryable);
    if (!retryable) throw new RemoteCallError(outcome.cause);
    const backoff = Math.min(FIRST_BACKOFF_MS[options.transport] * 2 ** attempt, deadline - Date.now());
    if (backoff < 1) break;
    await new Promise((resolve) => setTimeout(resolve, backoff));
  }
  const budget = capped ? `within ${Math.max(0, deadline - started)} ms (what its run's deadline left)` : `within the call timeout (${call} ms)`;
  throw new RemoteCallError(`no successful answer ${budget}; last cause: ${lastCause}`);
}

/** How an attempt failed: what the transports' retry rules look at. */
type Failure = { kind: "timeout" | "connection" | "content-type" | "body" | "cut"; cause: string } | { kind: "status"; status: number; cause: string };

type Attempt = { response: FromFunction } | Failure;

function isRetryable(failure: Failure, transport: CallOptions["transport"]): boolean {
  switch (failure.kind) {
    case "connection":
      return true;
    case "timeout":
      return transport === "okhttp";
    case "status":
      return transport === "async" || RETRYABLE_STATUSES.has(failure.status) || failure.status >= 500;
    case "content-type":
    case "body":
    // Cut while the answer was read: StateFun's OkHttp client reads the body after its retry
    // decision (no retry); its async client retries a disconnect whenever it comes.
    case "cut":
      return transport === "async";
  }
}

async function attemptCall(options: CallOptions, body: Uint8Array, timeoutMs: number): Promise<Attempt> {
  let res: Response;
  try {
    res = await fetch(options.url, {
      method: "POST",
      body,
      headers: { "content-type": CONTENT_TYPE, accept: CONTENT_TYPE, "user-agent": "statefun" },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return isTimeout(error)
      ? { kind: "timeout", cause: `no answer within ${timeoutMs} ms` }
      : { kind: "connection", cause: `connection failed: ${String(error)}` };
  }
  if (!res.ok) {
    await res.body?.cancel();
    return { kind: "status", status: res.status, cause: `HTTP ${res.status}` };
  }
  const type = (res.headers.get("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== CONTENT_TYPE) {
    await res.body?.cancel();
    return { kind: "content-type", cause: `the answer's content type is '${res.headers.get("content-type") ?? "none"}', not ${CONTENT_TYPE}` };
  }
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readCapped(res, options.payloadMaxBytes);
  } catch (error) {
    // The attempt's timeout aborts the body too: that is a timeout, with its own retry rule.
    if (isTimeout(error)) return { kind: "timeout", cause: `no answer within ${timeoutMs} ms` };
    return { kind: "cut", cause: `the answer was cut while it was read: ${String(error)}` };
  }
  if (bytes === undefined) return { kind: "body", cause: `the answer exceeds payload_max_bytes (${options.payloadMaxBytes})` };
  // An empty body is a FromFunction with neither field set: an empty result, as StateFun's clients read it.
  try {
    return { response: fromBinary(FromFunctionSchema, bytes) };
  } catch (error) {
    return { kind: "body", cause: `the answer is not a FromFunction message: ${String(error)}` };
  }
}

/** Whether an attempt's error is its timeout (`AbortSignal.timeout`) going off. */
function isTimeout(error: unknown): boolean {
  return error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
}

/** The body, or undefined as soon as it passes `max` bytes (without reading the rest). */
async function readCapped(res: Response, max: number): Promise<Uint8Array | undefined> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}
