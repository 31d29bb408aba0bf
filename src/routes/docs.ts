/**
 * The API reference at `/docs` (src/docs/page.ts, and `/redoc` leads there): the page, its script, and Scalar's browser
 * bundle, served from this Worker's static assets (public/docs/, written by `npm run build`). All
 * three are open: they are static and hold no data; the page fetches `/openapi.json` (which needs
 * a token when tokens are configured) with the token it asks for.
 */
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { DOCS_CONTENT_SECURITY_POLICY, DOCS_HTML, DOCS_PAGE_JS, DOCS_PATHS } from "../docs/page";
import { fetchStaticAsset, staticAssets } from "../http/static-assets";
import { methodNotAllowed } from "../http/method-not-allowed";

export function docsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // The page is nothing without Scalar's bundle, a static asset: an API-only deployment has neither.
  app.get(DOCS_PATHS.page, (c) => {
    staticAssets(c.env, DOCS_PATHS.page);
    return c.html(DOCS_HTML, 200, { "content-security-policy": DOCS_CONTENT_SECURITY_POLICY, "cache-control": "no-cache" });
  });
  app.get(DOCS_PATHS.script, (c) => {
    staticAssets(c.env, DOCS_PATHS.script);
    return c.body(DOCS_PAGE_JS, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" });
  });
  app.get(DOCS_PATHS.scalar, async (c) => {
    const asset = await fetchStaticAsset(
      c.env,
      new URL(DOCS_PATHS.scalar, c.req.url),
      `${DOCS_PATHS.scalar} is missing from the static assets: run \`npm run build\``,
    );
    // A fresh Response: the binding's has immutable headers, and the middleware adds some.
    return new Response(asset.body, asset);
  });
  // ZenML's FastAPI serves ReDoc here; its clients find the one reference this Worker has.
  app.get("/redoc", (c) => {
    staticAssets(c.env, DOCS_PATHS.page);
    return c.redirect(DOCS_PATHS.page, 302);
  });
  // The same under a pipeline's mount, where a ZenML client of that pipeline looks for them; for
  // any name, as the reference is open and a 404 would tell which pipelines exist.
  for (const path of ["/pipelines/:pipeline/docs", "/pipelines/:pipeline/redoc"]) {
    app.get(path, (c) => {
      staticAssets(c.env, DOCS_PATHS.page);
      return c.redirect(DOCS_PATHS.page, 302);
    });
  }
  for (const path of [...Object.values(DOCS_PATHS), "/redoc"]) app.all(path, methodNotAllowed(["GET"]));
  return app;
}
