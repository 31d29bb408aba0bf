/** A handler for a known path asked with a method it does not serve: 405 with an `Allow` header. */
import type { Context } from "hono";
import { ApiError } from "../errors/api-error";

export function methodNotAllowed(allowed: readonly string[]) {
  return function methodNotAllowed(c: Context): never {
    throw new ApiError("method_not_allowed", `${c.req.method} is not allowed here; use ${allowed.join(" or ")}`, {
      headers: { allow: allowed.join(", ") },
    });
  };
}
