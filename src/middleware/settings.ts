/**
 * Loads and validates the deployment settings (once per distinct set of values) and exposes them
 * as `c.get("settings")`. A misconfigured deployment answers every request with a 500 that names the
 * setting at fault, rather than failing somewhere later.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { findPipeline } from "../catalog";
import { ApiError } from "../errors/api-error";
import { RunService } from "../engine/run-service";
import { loadSettings } from "../settings";

export const settingsMiddleware = createMiddleware<AppEnv>(async function settings(c, next) {
  const settings = loadSettings(c.env);
  if (!findPipeline(settings.EDGESERVE_DEFAULT_PIPELINE)) {
    throw new ApiError(
      "invalid_configuration",
      `edgeserve is misconfigured: EDGESERVE_DEFAULT_PIPELINE names '${settings.EDGESERVE_DEFAULT_PIPELINE}', which is not a deployed pipeline`,
    );
  }
  c.set("settings", settings);
  c.set("engine", new RunService(c.env, settings, waitUntilOf(c)));
  await next();
});

/** The request's `waitUntil`; without an execution context (a bare `app.request`), the promise just runs. */
function waitUntilOf(c: Context<AppEnv>): (promise: Promise<unknown>) => void {
  try {
    const ctx = c.executionCtx;
    return (promise) => ctx.waitUntil(promise);
  } catch {
    return (promise) => void promise.catch(() => undefined);
  }
}
