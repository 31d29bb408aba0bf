/**
 * The one error class of edgeserve. Everything thrown on the request path is either an `ApiError`
 * or is turned into one (`toApiError`) at the single `onError` handler, so no stack trace or
 * internal message ever reaches a client.
 */
import { HTTPException } from "hono/http-exception";
import { statusOf, type ErrorCode, type ErrorStatus } from "./codes";

/** One problem with the input, shaped like a zod issue: where it is and what is wrong. */
export interface ErrorDetail {
  path: (string | number)[];
  message: string;
  code?: string;
  /** Where the bad value was, when not in the request body (FastAPI's `loc` starts with it). */
  in?: "query";
  /** What the validator said beyond its words, for a surface that words it its own way (ZenML's FastAPI types); never sent as it is. */
  facts?: IssueFacts;
}

/** The facts of a validation issue (zod's), as plain data. */
export interface IssueFacts {
  expected?: string;
  origin?: string;
  minimum?: number;
  maximum?: number;
  inclusive?: boolean;
  keys?: string[];
  /** The value that failed, when the validator was asked to report it (`reportInput`). */
  input?: unknown;
  /** The value was not there at all. */
  missing?: true;
}

export class ApiError extends Error {
  override readonly name = "ApiError";
  readonly code: ErrorCode;
  readonly status: ErrorStatus;
  readonly details: ErrorDetail[] | undefined;
  /** Extra response headers, e.g. `Allow` on a 405. */
  readonly headers: Record<string, string>;
  /** Numaflow answers this one as its bare message in plain text (its `.` in the id header check). */
  readonly plainText: boolean;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetail[]; headers?: Record<string, string>; cause?: unknown; plainText?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.status = statusOf(code);
    this.details = options.details;
    this.headers = options.headers ?? {};
    this.plainText = options.plainText ?? false;
  }
}

/** The error table's code for a status Hono's own middleware raised (`HTTPException`). */
const CODE_OF_HTTP_STATUS: Partial<Record<number, ErrorCode>> = {
  400: "bad_request",
  401: "unauthorized",
  404: "route_not_found",
  405: "method_not_allowed",
  408: "request_timeout",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "too_many_requests",
};

/**
 * Normalises any thrown value: Hono's `HTTPException`s map to the code of their status (their
 * message kept, a 5xx's hidden); unknown failures become `internal_error` with a generic message.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof HTTPException) {
    const code = CODE_OF_HTTP_STATUS[error.status];
    if (code) return new ApiError(code, error.message || `the request was refused (${error.status})`, { cause: error });
  }
  return new ApiError("internal_error", "edgeserve hit an unexpected error; it has been logged.", {
    cause: error,
  });
}

/** Turns zod issues into error details without leaking zod's internals. */
export function detailsFromIssues(
  issues: readonly { path: readonly PropertyKey[]; message: string; code: string }[],
  where: Pick<ErrorDetail, "in"> = {},
): ErrorDetail[] {
  return issues.map((issue) => {
    const facts = factsOf(issue);
    return {
      path: issue.path.map((part) => (typeof part === "number" ? part : String(part))),
      message: issue.message,
      code: issue.code,
      ...where,
      ...(facts ? { facts } : {}),
    };
  });
}

/** The details as clients see them: without the validator's facts. */
export function publicDetails(details: readonly ErrorDetail[]): ErrorDetail[] {
  return details.map(({ facts: _facts, ...detail }) => detail);
}

function factsOf(issue: object): IssueFacts | undefined {
  const fields = issue as Record<string, unknown>;
  const facts: IssueFacts = {};
  const number = (value: unknown) => (typeof value === "number" || typeof value === "bigint" ? Number(value) : undefined);
  if (typeof fields.expected === "string") facts.expected = fields.expected;
  if (typeof fields.origin === "string") facts.origin = fields.origin;
  const minimum = number(fields.minimum);
  if (minimum !== undefined) facts.minimum = minimum;
  const maximum = number(fields.maximum);
  if (maximum !== undefined) facts.maximum = maximum;
  if (typeof fields.inclusive === "boolean") facts.inclusive = fields.inclusive;
  if (Array.isArray(fields.keys)) facts.keys = fields.keys.map(String);
  // Reported (the key is there) but undefined: the value was missing.
  if ("input" in fields) {
    if (fields.input === undefined) facts.missing = true;
    else facts.input = fields.input;
  }
  return Object.keys(facts).length > 0 ? facts : undefined;
}
