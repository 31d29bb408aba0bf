/** Loads and validates the deployment settings once per isolate and exposes them as `c.var.settings`. */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { loadSettings } from "../settings";

export const settingsMiddleware = createMiddleware<AppEnv>(async function settings(c, next) {
  c.set("settings", loadSettings(c.env));
  await next();
});
