/**
 * Stream tickets in place of the Authorization header (src/auth/stream-tickets.ts). Each stream
 * route registers `runTicket` with how it names its run, ahead of `bearerAuth`: a `?ticket=` for
 * exactly that pipeline and run lets the request through; any other ticket is ignored, so
 * `bearerAuth` answers 401 as it would without one. No other route looks at tickets at all.
 */
import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { mintTicket, verifyTicket, type MintedTicket, type StreamGrant } from "../auth/stream-tickets";
import { authenticatedToken, unauthorized } from "./auth";

/** The run a stream request reads; `pipeline` null: the route does not name it (`/v1/runs/{id}/events`), the ticket does. */
export interface StreamTarget {
  pipeline: string | null;
  runId: string;
}

/** `target` names the run the request only reads, or null when it would do anything else (a ticket never opens that). */
export function runTicket(target: (c: Context<AppEnv>) => StreamTarget | null): MiddlewareHandler<AppEnv> {
  return createMiddleware<AppEnv>(async function runTicket(c, next) {
    const ticket = c.req.query("ticket");
    const wanted = ticket === undefined ? null : target(c);
    if (ticket !== undefined && wanted !== null) {
      const grant = await verifyTicket(ticket, c.get("settings").EDGESERVE_AUTH_TOKENS);
      if (grant?.kind === "run" && grant.runId === wanted.runId && (wanted.pipeline === null || grant.pipeline === wanted.pipeline)) {
        c.set("ticketGrant", grant);
      }
    }
    await next();
  });
}

/**
 * ZenML's `WS /stream` with `?ticket=`: a socket ticket of this pipeline, whose job id the new run
 * takes. A ticket here must be valid (else 401, even with a bearer token), since it names the run.
 */
export const socketTicket = createMiddleware<AppEnv>(async function socketTicket(c, next) {
  const ticket = c.req.query("ticket");
  if (ticket !== undefined) {
    const grant = await verifyTicket(ticket, c.get("settings").EDGESERVE_AUTH_TOKENS);
    if (grant?.kind !== "socket" || grant.pipeline !== mountedPipeline(c)) {
      throw unauthorized("the stream ticket is not valid (expired, for another pipeline, or signed with a token no longer configured)");
    }
    c.set("ticketGrant", grant);
  }
  await next();
});

/**
 * Mints a ticket for a caller `bearerAuth` let in, signed with the key of the token it presented
 * (so removing that token invalidates the ticket). A ticket never mints another.
 */
export async function mintFor(c: Context<AppEnv>, grant: Omit<StreamGrant, "expiresAt">, expiresAt: Date): Promise<MintedTicket> {
  if (c.get("ticketGrant") !== undefined) throw unauthorized("a stream ticket cannot ask for another");
  const configured = c.get("settings").EDGESERVE_AUTH_TOKENS.length > 0;
  const token = configured ? await authenticatedToken(c) : null;
  if (configured && token === null) throw unauthorized("a valid bearer token is required");
  return mintTicket(token, grant, expiresAt);
}

/** A handler's own check that the run it is about to read is the ticket's (when a ticket let the request in). */
export function assertTicketCovers(c: Context<AppEnv>, pipeline: string, runId: string | undefined): void {
  const grant = c.get("ticketGrant");
  if (grant === undefined) return;
  if (grant.kind !== "run" || grant.pipeline !== pipeline || grant.runId !== runId) throw unauthorized("the stream ticket does not open this request");
}

/** The pipeline a Numaflow or ZenML route addresses: `/pipelines/<name>/…`, or the default at the root. */
export function mountedPipeline(c: Context<AppEnv>): string {
  return c.req.param("pipeline") ?? c.get("settings").EDGESERVE_DEFAULT_PIPELINE;
}

/** Whether a request carries a body (by its headers: the body itself is read after auth). */
export function hasBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  return request.headers.has("transfer-encoding") || (length !== null && length.trim() !== "0");
}
