/**
 * Renders an `ApiError` in the shape each surface's clients expect:
 * - native: `{"code", "message", "details"?}`;
 * - Numaflow: `{"message", "code": <status>, "timestamp"}` plus `error_code` (edgeserve's stable
 *   code), with Numaflow's documented empty bodies for 401 and 408.
 */
import type { Surface } from "../runs/protocol";
import type { ApiError } from "./api-error";

export function errorResponse(error: ApiError, surface: Surface): Response {
  const headers = new Headers(error.headers);
  if (surface === "numaflow") {
    if (error.code === "unauthorized" || error.code === "request_timeout") {
      return new Response(null, { status: error.status, headers });
    }
    const body: Record<string, unknown> = {
      message: error.message,
      code: error.status,
      timestamp: numaflowTimestamp(),
      error_code: error.code,
    };
    if (error.details) body.details = error.details;
    return Response.json(body, { status: error.status, headers });
  }
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details) body.details = error.details;
  return Response.json(body, { status: error.status, headers });
}

/** RFC 3339 UTC with nanoseconds, as Numaflow's serving server writes timestamps. */
export function numaflowTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}
