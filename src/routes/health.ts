/**
 * Liveness and readiness probes (Numaflow's `/livez` and `/readyz`): 204, no body, at the root and
 * under `/pipelines/<name>/` (a Numaflow client given a pipeline's base URL probes there; an
 * unknown pipeline is 404). When tokens are configured they need one, like every route but
 * ZenML's `/health` (open, as ZenML leaves it, but saying only "healthy" to a caller without a
 * token: src/surfaces/zenml/routes.ts).
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { methodNotAllowed } from "../http/method-not-allowed";
import { bearerAuth } from "../middleware/auth";
import { resolvePipeline } from "../middleware/pipeline";

export function healthRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const path of ["/livez", "/readyz"]) {
    // Errors here are Numaflow's shape through app.ts's surfaceOfPath, which knows the probes' paths.
    app.use(path, bearerAuth);
    // At the root the service answers for itself, whatever its default pipeline.
    app.get(path, async (c, next) => (c.req.param("pipeline") === undefined ? next() : resolvePipeline(c, next)));
    app.get(path, (c) => c.body(null, 204)).all(path, methodNotAllowed(["GET"]));
  }
  return app;
}
