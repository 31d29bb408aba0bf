/**
 * createApp(): the middleware order, the surfaces mounted at the root (default pipeline) and under
 * `/pipelines/<name>`, and the single place errors are turned into responses.
 */
import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { ApiError, toApiError } from "./errors/api-error";
import { errorResponse } from "./errors/error-response";
import { corsPolicy } from "./middleware/cors";
import { securityHeaders } from "./middleware/security-headers";
import { settingsMiddleware } from "./middleware/settings";
import { chaosRoutes } from "./routes/chaos";
import { consoleRoutes } from "./routes/console";
import { docsRoutes } from "./routes/docs";
import { healthRoutes } from "./routes/health";
import { nativeRoutes } from "./surfaces/native/routes";
import { numaflowRoutes } from "./surfaces/numaflow/routes";
import { zenmlRoutes } from "./surfaces/zenml/routes";
import type { Surface } from "./runs/protocol";

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(securityHeaders, settingsMiddleware, corsPolicy);

  app.route("/", consoleRoutes());
  app.route("/", docsRoutes());
  app.route("/", nativeRoutes());
  app.route("/", chaosRoutes());
  // The probes and each surface are mounted at the root (the default pipeline) and under /pipelines/<name>.
  for (const surface of [healthRoutes(), numaflowRoutes(), zenmlRoutes()]) {
    app.route("/", surface);
    app.route("/pipelines/:pipeline", surface);
  }

  app.notFound((c) => {
    throw new ApiError("route_not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  });
  app.onError((thrown, c) => {
    const error = toApiError(thrown);
    if (error.code === "internal_error" || error.code === "invalid_configuration" || error.code === "run_unavailable") {
      console.error(`edgeserve ${c.req.method} ${new URL(c.req.url).pathname}: ${describe(error.cause ?? error)}`);
    }
    const surface: Surface = c.get("surface") ?? surfaceOfPath(new URL(c.req.url).pathname);
    return errorResponse(error, surface);
  });
  return app;
}

function surfaceOfPath(path: string): Surface {
  return path.includes("/v1/process/") || /(^|\/)(livez|readyz)$/.test(path) ? "numaflow" : "native";
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
