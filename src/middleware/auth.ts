/**
 * Bearer-token auth (Numaflow's scheme): `Authorization: Bearer <token>` must match one of the
 * configured tokens (several may be valid at once, for rotation). Comparison is constant-time:
 * both sides are hashed first, so neither the token's content nor its length leaks through timing.
 * With no token configured, every route is open.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";

const encoder = new TextEncoder();

export const bearerAuth = createMiddleware<AppEnv>(async function bearerAuth(c, next) {
  if (!(await isAuthorized(c))) {
    throw new ApiError("unauthorized", "a valid bearer token is required", {
      headers: { "www-authenticate": 'Bearer realm="edgeserve"' },
    });
  }
  await next();
});

/** Whether the request may see what tokens protect: no token is configured, or it presents a valid one. */
export async function isAuthorized(c: Context<AppEnv>): Promise<boolean> {
  const tokens = c.var.settings.EDGESERVE_AUTH_TOKENS;
  if (tokens.length === 0) return true;
  // The scheme name is case-insensitive (RFC 7235 §2.1).
  const presented = /^bearer +(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? null;
  return presented !== null && (await matchesAny(presented, tokens));
}

async function matchesAny(presented: string, tokens: readonly string[]): Promise<boolean> {
  const presentedDigest = await sha256(presented);
  let matched = false;
  // Check every token, so the time taken does not say which one (if any) matched.
  for (const token of tokens) {
    if (crypto.subtle.timingSafeEqual(presentedDigest, await sha256(token))) matched = true;
  }
  return matched;
}

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}
