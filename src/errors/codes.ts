/**
 * The closed set of error codes edgeserve answers with, and the HTTP status of each.
 *
 * The table is a `Record` over every code, so adding a code without a status does not compile.
 * Codes are part of the public contract: never rename one, only add.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  malformed_json: 400,
  invalid_input: 400,
  invalid_run_id: 400,
  unauthorized: 401,
  route_not_found: 404,
  pipeline_not_found: 404,
  run_not_found: 404,
  /** The run existed, but its retention ended and its data was deleted. */
  run_expired: 404,
  method_not_allowed: 405,
  /** A memory-only pipeline keeps nothing, so it cannot serve async runs, fetches, jobs or streams. */
  memory_only: 409,
  request_timeout: 408,
  run_id_in_use: 409,
  /** The run has ended already (cancelling a finished run). */
  run_finished: 409,
  payload_too_large: 413,
  /** The run completed, but its capture policy keeps no payloads and its sync answer has been sent. */
  result_not_kept: 410,
  too_many_requests: 429,
  /** A run's live stream subscribers are at `EDGESERVE_MAX_SUBSCRIBERS`. */
  too_many_subscribers: 429,
  unsupported_media_type: 415,
  /** An Idempotency-Key sent again with a different request body (IETF Idempotency-Key draft). */
  idempotency_key_reused: 422,
  run_failed: 500,
  run_timeout: 500,
  invalid_configuration: 500,
  internal_error: 500,
  run_unavailable: 503,
  /** The object hosting the run refused the call as overloaded (the platform's error); the call never ran. */
  run_host_overloaded: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export type ErrorStatus = (typeof ERROR_STATUS)[ErrorCode];

export function statusOf(code: ErrorCode): ErrorStatus {
  return ERROR_STATUS[code];
}
