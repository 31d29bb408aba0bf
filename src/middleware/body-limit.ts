/** Rejects bodies over `EDGESERVE_MAX_BODY_BYTES` with 413, before anything reads them (Hono's bodyLimit). */
import { createMiddleware } from "hono/factory";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";

export const requestBodyLimit = createMiddleware<AppEnv>(async function requestBodyLimit(c, next) {
  const maxSize = c.get("settings").EDGESERVE_MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError("payload_too_large", `the request body is over the limit of ${maxSize} bytes`);
    },
  });
  await limit(c, next);
});
