/** Every status a client sees comes from the one error table, Hono's own `HTTPException`s included. */
import { HTTPException } from "hono/http-exception";
import { describe, it } from "vitest";
import { ApiError, toApiError } from "../../src/errors/api-error";

describe("toApiError", () => {
  it("maps Hono's HTTPException to the table's code for its status, keeping its message", ({ expect }) => {
    const error = toApiError(new HTTPException(413, { message: "too big" }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: "payload_too_large", status: 413, message: "too big" });
    expect(toApiError(new HTTPException(401))).toMatchObject({ code: "unauthorized", status: 401 });
    expect(toApiError(new HTTPException(405))).toMatchObject({ code: "method_not_allowed", status: 405 });
  });

  it("turns a 5xx HTTPException and anything unknown into internal_error with a generic message", ({ expect }) => {
    expect(toApiError(new HTTPException(502, { message: "upstream detail" }))).toMatchObject({ code: "internal_error", status: 500 });
    const unknown = toApiError(new Error("secret internals"));
    expect(unknown).toMatchObject({ code: "internal_error", status: 500 });
    expect(unknown.message).not.toContain("secret");
  });
});
