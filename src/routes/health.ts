/** Liveness and readiness probes (Numaflow's `/livez` and `/readyz`): open, no token needed, no body. */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";

export function healthRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/livez", (c) => c.body(null, 204));
  app.get("/readyz", (c) => c.body(null, 204));
  return app;
}
