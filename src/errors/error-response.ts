/**
 * Renders an `ApiError` in the shape each surface's clients expect:
 * - native: `{"code", "message", "details"?}`;
 * - Numaflow: `{"message", "code": <status>, "timestamp"}` plus `error_code` (edgeserve's stable
 *   code), with Numaflow's documented empty bodies for 401 and 408 and its plain-text 400 for a
 *   `.` in the id header;
 * - ZenML (FastAPI): `{"detail": "…"}`, and for bad input 422 with FastAPI's list of
 *   `{"type", "loc", "msg", "input"?}` in Pydantic's words (fastapi-detail.ts), plus `code`.
 */
import type { Surface } from "../runs/protocol";
import { publicDetails, type ApiError } from "./api-error";
import { fastApiDetails } from "./fastapi-detail";

export function errorResponse(error: ApiError, surface: Surface): Response {
  const headers = new Headers(error.headers);
  if (surface === "numaflow") {
    if (error.code === "unauthorized" || error.code === "request_timeout") {
      return new Response(null, { status: error.status, headers });
    }
    // As bytes: a string body would be given a text/plain content type, which Numaflow's has not.
    if (error.plainText) return new Response(new TextEncoder().encode(error.message), { status: error.status, headers });
    const body: Record<string, unknown> = {
      message: error.message,
      code: error.status,
      timestamp: numaflowTimestamp(),
      error_code: error.code,
    };
    if (error.details) body.details = publicDetails(error.details);
    return Response.json(body, { status: error.status, headers });
  }
  if (surface === "zenml") return zenmlErrorResponse(error, headers);
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details) body.details = publicDetails(error.details);
  return Response.json(body, { status: error.status, headers });
}

const FASTAPI_VALIDATION_STATUS = 422;

function zenmlErrorResponse(error: ApiError, headers: Headers): Response {
  if (error.code === "invalid_input" || error.code === "malformed_json") {
    const detail = (error.details ?? [{ path: [], message: error.message, code: error.code }]).flatMap((d) => fastApiDetails(d, error.code));
    return Response.json({ detail, code: error.code }, { status: FASTAPI_VALIDATION_STATUS, headers });
  }
  if (error.code === "unauthorized") return Response.json({ detail: "Not authenticated", code: error.code }, { status: 401, headers });
  return Response.json({ detail: error.message, code: error.code }, { status: error.status, headers });
}

/** RFC 3339 UTC with nanoseconds, as Numaflow's serving server writes timestamps. */
export function numaflowTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
}
