/**
 * Stream tickets: what a browser sends in `?ticket=` where it cannot send an Authorization header
 * (EventSource, WebSocket). A ticket is `est1.<payload>.<signature>`, both parts base64url:
 * the payload is JSON naming what the ticket opens and until when, the signature is
 * HMAC-SHA256 over `est1.<payload>`. It never contains a token.
 *
 * - `run` tickets open the event streams of one run of one pipeline, read-only, for its whole
 *   life (src/middleware/ticket-auth.ts says which routes).
 * - `socket` tickets open ZenML's `WS /stream` of one pipeline once: they carry the job id the
 *   new run takes, and a run id starts once.
 *
 * Keys: one HMAC key per configured bearer token, derived with HKDF-SHA256 from the token. A
 * ticket is signed with the key of the token that asked for it and is valid while that token is
 * configured: removing a token (rotation) invalidates the tickets minted with it. With no token
 * configured every route is open, and tickets are signed with a fixed key (they protect nothing).
 */
import * as z from "zod";

export const TICKET_VERSION = "est1";

/** A `socket` ticket opens one WebSocket: long enough to open it, not to keep it. */
export const SOCKET_TICKET_SECONDS = 60;
/** What a `run` ticket adds to the run's deadline (and its timeout), so that EventSource can reconnect. */
export const RUN_TICKET_GRACE_SECONDS = 300;
/** No ticket lives longer than this. */
export const MAX_TICKET_SECONDS = 86_400;

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** An HMAC-SHA256 is 32 bytes: 43 base64url characters without padding. */
const SIGNATURE_LENGTH = 43;

/** The wire form, checked before any decoding or crypto. */
export const ticketSchema = z
  .string()
  .max(1024)
  .regex(new RegExp(`^${TICKET_VERSION}\\.[A-Za-z0-9_-]{1,900}\\.[A-Za-z0-9_-]{${SIGNATURE_LENGTH}}$`), "is not a stream ticket");

export const ticketPayloadSchema = z.strictObject({
  /** `run`: the streams of run `r`; `socket`: one `WS /stream` whose new run takes the id `r`. */
  k: z.enum(["run", "socket"]),
  /** The pipeline. */
  p: z.string().min(1).max(256),
  /** The run id. */
  r: z.string().min(1).max(256),
  /** Expiry, Unix seconds. */
  e: z.number().int().positive(),
});

export type TicketPayload = z.infer<typeof ticketPayloadSchema>;
export type TicketKind = TicketPayload["k"];

/** What a valid ticket grants: its kind, pipeline and run, and when it ends. */
export interface StreamGrant {
  kind: TicketKind;
  pipeline: string;
  runId: string;
  expiresAt: Date;
}

export interface MintedTicket {
  ticket: string;
  expiresAt: Date;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Signs a ticket with the key of `token` (the one that authenticated the caller; null: no tokens configured). */
export async function mintTicket(token: string | null, grant: Omit<StreamGrant, "expiresAt">, expiresAt: Date): Promise<MintedTicket> {
  const payload: TicketPayload = { k: grant.kind, p: grant.pipeline, r: grant.runId, e: Math.ceil(expiresAt.getTime() / 1000) };
  const body = `${TICKET_VERSION}.${base64url(encoder.encode(JSON.stringify(payload)))}`;
  const signature = await hmac(await keyOf(token), body);
  return { ticket: `${body}.${base64url(signature)}`, expiresAt: new Date(payload.e * 1000) };
}

/**
 * The grant of a ticket, or null when it is malformed, signed by no configured token's key
 * (tampered, or its token rotated out), or expired. Every key is tried, in constant time each.
 */
export async function verifyTicket(ticket: string, tokens: readonly string[], now = Date.now()): Promise<StreamGrant | null> {
  const wire = ticketSchema.safeParse(ticket);
  if (!wire.success) return null;
  const cut = wire.data.lastIndexOf(".");
  const body = wire.data.slice(0, cut);
  const presented = fromBase64url(wire.data.slice(cut + 1));
  if (presented === null) return null;
  let signed = false;
  for (const key of await Promise.all((tokens.length === 0 ? [null] : tokens).map(keyOf))) {
    const expected = await hmac(key, body);
    if (expected.byteLength === presented.byteLength && crypto.subtle.timingSafeEqual(expected, presented)) signed = true;
  }
  if (!signed) return null;
  const payload = decodePayload(body.slice(TICKET_VERSION.length + 1));
  if (payload === null || payload.e * 1000 <= now) return null;
  return { kind: payload.k, pipeline: payload.p, runId: payload.r, expiresAt: new Date(payload.e * 1000) };
}

/** How long a run's ticket lives: past the run's deadline and its timeout by the grace, at most a day. */
export function runTicketExpiry(now: number, runTimeoutSeconds: number, deadlineAt: number | undefined): Date {
  const untilDeadline = Math.max(0, Math.ceil(((deadlineAt ?? now) - now) / 1000));
  const seconds = Math.min(MAX_TICKET_SECONDS, Math.max(runTimeoutSeconds, untilDeadline) + RUN_TICKET_GRACE_SECONDS);
  return new Date(now + seconds * 1000);
}

function decodePayload(part: string): TicketPayload | null {
  const bytes = fromBase64url(part);
  if (bytes === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
  const parsed = ticketPayloadSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/**
 * Derived keys by token (tokens are few and live as long as the isolate's settings). The keys are
 * kept, not the promises that make them: a request must not await a promise another request made
 * (it would go on in that request's I/O context).
 */
const keys = new Map<string, CryptoKey>();
const NO_TOKEN = "";

async function keyOf(token: string | null): Promise<CryptoKey> {
  const material = token ?? NO_TOKEN;
  const known = keys.get(material);
  if (known) return known;
  const key = await deriveKey(material);
  keys.set(material, key);
  return key;
}

async function deriveKey(token: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", encoder.encode(token), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: encoder.encode("edgeserve"),
      info: encoder.encode(`stream-ticket ${token === NO_TOKEN ? "open" : "token"} ${TICKET_VERSION}`),
    },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

async function hmac(key: CryptoKey, text: string): Promise<ArrayBuffer> {
  return crypto.subtle.sign("HMAC", key, encoder.encode(text));
}

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let binary = "";
  for (const byte of view) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text: string): ArrayBuffer | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  } catch {
    return null;
  }
}
