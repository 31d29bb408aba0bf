/** Headers every response carries, whatever route answered. */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";

export const securityHeaders = createMiddleware<AppEnv>(async function securityHeaders(c, next) {
  await next();
  // A WebSocket upgrade's response has immutable headers and carries no content.
  if (c.res.status === 101) return;
  c.res.headers.set("x-content-type-options", "nosniff");
  c.res.headers.set("referrer-policy", "no-referrer");
});
