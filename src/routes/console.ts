/**
 * The web console: `/` (public/index.html), its script, styles and the typed client bundle under
 * `/console/`, and the favicon, all Workers Static Assets (public/) served through the ASSETS
 * binding. They are open: they hold no run data, and a browser cannot send a bearer token when it
 * navigates, so the page asks for the token and sends it with each API call instead.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../app-env";
import { fetchStaticAsset, staticAssets } from "../http/static-assets";

/** The page's own scripts and styles only (no inline code of any kind); API calls go to this origin. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export function consoleRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const path of ["/", "/console/*", "/favicon.svg"]) app.get(path, serveAsset);
  // A pipeline's mount point (where a ZenML client finds its service's page): the console, on that pipeline.
  for (const path of ["/pipelines/:pipeline", "/pipelines/:pipeline/"]) {
    // Whatever the name: the console is open, and answering 404 for an unknown one would tell which pipelines exist.
    app.get(path, (c) => {
      staticAssets(c.env, "/");
      return c.redirect(`/?pipeline=${encodeURIComponent(c.req.param("pipeline") ?? "")}`, 302);
    });
  }
  return app;
}

async function serveAsset(c: Context<AppEnv>): Promise<Response> {
  const asset = await fetchStaticAsset(c.env, c.req.raw, `no route for ${c.req.method} ${new URL(c.req.url).pathname}`);
  // A copy: the binding's response headers are immutable, and the middleware adds its own.
  const res = new Response(asset.body, asset);
  res.headers.set("content-security-policy", CONSOLE_CSP);
  return res;
}
