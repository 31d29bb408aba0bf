/**
 * The request headers a run keeps: handed to its steps (`context.headers`) and stored with it.
 * Every header that carries a credential is left out, plus the deployment's own list
 * (`EDGESERVE_STRIP_HEADERS`).
 */

/** Header names that always carry credentials. */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(["authorization", "proxy-authorization", "cookie", "x-api-key"]);

/** Name prefixes of headers that always carry credentials (Cloudflare Access: its JWT, client id and secret). */
const CREDENTIAL_PREFIXES: readonly string[] = ["cf-access-"];

/** What else to strip: lower-case names, or prefixes (an entry written `x-internal-*`). */
export interface StripList {
  names: readonly string[];
  prefixes: readonly string[];
}

/** Splits a list's entries (lower-case header names, a trailing `*` making a prefix) into names and prefixes. */
export function stripList(entries: readonly string[]): StripList {
  return {
    names: entries.filter((e) => !e.endsWith("*")),
    prefixes: entries.filter((e) => e.endsWith("*")).map((e) => e.slice(0, -1)),
  };
}

/** A header that carries the run's id to its steps (Numaflow's id header, even when the server chose the id). */
export interface IdHeader {
  name: string;
  runId: string;
}

/** The headers a run may keep, plus `id` when given; names are lower-case (as `Headers` gives them). */
export function forwardedHeaders(headers: Headers, strip: StripList, id?: IdHeader): Record<string, string> {
  const forwarded: Record<string, string> = {};
  headers.forEach((value, name) => {
    if (!isStripped(name, strip)) forwarded[name] = value;
  });
  if (id) forwarded[id.name.toLowerCase()] = id.runId;
  return forwarded;
}

function isStripped(name: string, strip: StripList): boolean {
  if (CREDENTIAL_HEADERS.has(name) || strip.names.includes(name)) return true;
  return CREDENTIAL_PREFIXES.some((p) => name.startsWith(p)) || strip.prefixes.some((p) => name.startsWith(p));
}
