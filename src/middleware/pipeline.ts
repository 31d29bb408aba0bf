/** Resolves the pipeline a request addresses: `/pipelines/<name>/…`, or the default pipeline at the root. */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { findPipeline } from "../catalog";
import { ApiError } from "../errors/api-error";

export const resolvePipeline = createMiddleware<AppEnv>(async function resolvePipeline(c, next) {
  const name = c.req.param("pipeline") ?? c.get("settings").EDGESERVE_DEFAULT_PIPELINE;
  const pipeline = findPipeline(name);
  if (!pipeline) throw new ApiError("pipeline_not_found", `no pipeline named '${name}' is deployed`);
  c.set("pipeline", pipeline);
  await next();
});
