/**
 * CORS, strict by default: no cross-origin access unless `EDGESERVE_CORS_ORIGINS` lists the
 * origin (comma-separated; `*` allows any origin, for deployments without tokens). Allowed
 * origins may send the bearer token and the request-id header, and read the headers edgeserve sets.
 */
import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";

export const corsPolicy = createMiddleware<AppEnv>(async function corsPolicy(c, next) {
  const allowed = c.get("settings").EDGESERVE_CORS_ORIGINS;
  if (allowed.length === 0) return next();
  return cors({
    origin: (origin) => (allowed.includes("*") ? origin : allowed.includes(origin) ? origin : null),
    allowHeaders: ["Authorization", "Content-Type", "Last-Event-ID", "Prefer", "Idempotency-Key", c.get("settings").EDGESERVE_ID_HEADER],
    exposeHeaders: ["Location", "Preference-Applied", "Idempotent-Replayed", "Retry-After", c.get("settings").EDGESERVE_ID_HEADER],
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    maxAge: 600,
  })(c, next);
});
