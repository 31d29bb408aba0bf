/**
 * The deployment's static assets (public/: the console, Scalar's bundle, the favicon) through the
 * ASSETS binding. The API-only deployment (wrangler.api-only.toml, README "API-only deployment")
 * has no such binding: every route that needs it answers 404 and says why.
 */
import { ApiError } from "../errors/api-error";

/** The ASSETS binding; a 404 `route_not_found` naming `path` when the deployment is API-only. */
export function staticAssets(env: Env, path: string): Fetcher {
  // Typed as always there (wrangler types reads wrangler.toml), but absent when deployed API-only.
  const assets: Fetcher | undefined = env.ASSETS;
  if (assets === undefined) {
    throw new ApiError("route_not_found", `no route for ${path}: this deployment is API-only, so it serves no console, /docs or favicon`);
  }
  return assets;
}

/** The asset at `target`, or a 404 `route_not_found` (with `missing` as its message) when there is none. */
export async function fetchStaticAsset(env: Env, target: Request | URL, missing: string): Promise<Response> {
  const asset = await staticAssets(env, new URL(target instanceof URL ? target : target.url).pathname).fetch(target);
  if (asset.status === 404) throw new ApiError("route_not_found", missing);
  return asset;
}
