/**
 * Development-only fault injection for `npm run chaos` (see src/chaos.ts). Answers 404 as if it did
 * not exist unless `EDGESERVE_CHAOS=on`, which wrangler.toml never sets.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { chaosEnabled } from "../chaos";
import { ApiError } from "../errors/api-error";
import { bearerAuth } from "../middleware/auth";
import { resolvePipeline } from "../middleware/pipeline";
import { RunClient } from "../engine/run-client";
import { runIdProblem } from "../runs/run-id";

export function chaosRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(
    "/_chaos/*",
    async function chaosOnly(c, next) {
      if (!chaosEnabled(c.env)) throw new ApiError("route_not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
      c.set("surface", "native");
      await next();
    },
    bearerAuth,
  );
  // Resets the run's Durable Object the way a crash or a deploy does; its storage stays. 202 only
  // when the object was reset (an error answer otherwise). `not_before`/`not_after` bound when the
  // reset happened, so a caller can tell from the run's own event times whether it hit the run in
  // flight, before it started or after it ended.
  app.post("/_chaos/runs/:pipeline/:id/evict", resolvePipeline, async (c) => {
    const id = c.req.param("id");
    const problem = runIdProblem(id);
    if (problem) throw new ApiError("invalid_run_id", `run id ${problem}`);
    const notBefore = Date.now();
    await new RunClient(c.env, c.get("pipeline").name, id).chaosReset();
    return c.json({ reset: true, pipeline: c.get("pipeline").name, id, not_before: notBefore, not_after: Date.now() }, 202);
  });
  return app;
}
