/**
 * Bearer-token auth (Numaflow's scheme): `Authorization: Bearer <token>` must match one of the
 * configured tokens (several may be valid at once, for rotation). Comparison is constant-time:
 * both sides are hashed first, so neither the token's content nor its length leaks through timing.
 * With no token configured, every route is open. On stream routes a stream ticket may stand in for
 * the header (src/middleware/ticket-auth.ts).
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";

const encoder = new TextEncoder();

export const bearerAuth = createMiddleware<AppEnv>(async function bearerAuth(c, next) {
  // Set only by a stream route's own ticket middleware, for a ticket to this very request's run.
  if (c.get("ticketGrant") === undefined && !(await isAuthorized(c))) throw unauthorized("a valid bearer token is required");
  await next();
});

export function unauthorized(message: string): ApiError {
  return new ApiError("unauthorized", message, { headers: { "www-authenticate": 'Bearer realm="edgeserve"' } });
}

/** Whether the request may see what tokens protect: no token is configured, or it presents a valid one. */
export async function isAuthorized(c: Context<AppEnv>): Promise<boolean> {
  return c.get("settings").EDGESERVE_AUTH_TOKENS.length === 0 || (await authenticatedToken(c)) !== null;
}

/** The configured token the request presents, or null (none configured, none presented, or no match). */
export async function authenticatedToken(c: Context<AppEnv>): Promise<string | null> {
  const tokens = c.get("settings").EDGESERVE_AUTH_TOKENS;
  if (tokens.length === 0) return null;
  // The scheme name is case-insensitive (RFC 7235 §2.1).
  const presented = /^bearer +(.+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? null;
  return presented === null ? null : matching(presented, tokens);
}

async function matching(presented: string, tokens: readonly string[]): Promise<string | null> {
  const presentedDigest = await sha256(presented);
  let matched: string | null = null;
  // Check every token, so the time taken does not say which one (if any) matched.
  for (const token of tokens) {
    if (crypto.subtle.timingSafeEqual(presentedDigest, await sha256(token))) matched = token;
  }
  return matched;
}

async function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(text));
}
