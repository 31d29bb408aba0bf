/**
 * Liveness and readiness probes (Numaflow's `/livez` and `/readyz`): 204, no body. When tokens are
 * configured they need one, like every route but ZenML's `/health` (open, as ZenML leaves it, but
 * saying only "healthy" to a caller without a token: src/surfaces/zenml/routes.ts).
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { bearerAuth } from "../middleware/auth";

export function healthRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/livez", bearerAuth);
  app.use("/readyz", bearerAuth);
  app.get("/livez", (c) => c.body(null, 204));
  app.get("/readyz", (c) => c.body(null, 204));
  return app;
}
