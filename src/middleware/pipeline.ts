/** Resolves the pipeline a request addresses: `/pipelines/<name>/…`, or the default pipeline at the root. */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { findPipeline } from "../catalog";
import { ApiError } from "../errors/api-error";
import type { Pipeline } from "../pipeline/graph";

export const resolvePipeline = createMiddleware<AppEnv>(async function resolvePipeline(c, next) {
  c.set("pipeline", pipelineNamed(c.req.param("pipeline") ?? c.get("settings").EDGESERVE_DEFAULT_PIPELINE));
  await next();
});

/** The deployed pipeline of that name; 404 `pipeline_not_found` for any other. */
export function pipelineNamed(name: string): Pipeline {
  const pipeline = findPipeline(name);
  if (!pipeline) throw new ApiError("pipeline_not_found", `no pipeline named '${name}' is deployed`);
  return pipeline;
}
