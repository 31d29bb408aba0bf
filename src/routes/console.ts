/**
 * The web console (src/console/page.ts) at `/`, and the browser bundle of the typed client it
 * uses. Both are static, hold no run data, and are open: a browser cannot send a bearer token when
 * it navigates, so the page asks for the token and sends it with each API call instead.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { CONSOLE_HTML } from "../console/page";
import { CONSOLE_CLIENT_JS } from "../generated/console-client";

export function consoleRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/", (c) =>
    c.html(CONSOLE_HTML, 200, {
      // The page's own script and styles only; API calls go to this origin.
      "content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:",
    }),
  );
  app.get("/console/client.js", (c) => c.body(CONSOLE_CLIENT_JS, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" }));
  return app;
}
