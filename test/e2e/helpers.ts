/** Shared helpers for the end-to-end suite: the server's URL, authenticated fetch, raw GET-with-body. */
import { request as httpRequest } from "node:http";
import { inject } from "vitest";

export const baseUrl = (): string => inject("baseUrl");
export const authHeader = (): Record<string, string> => ({ Authorization: `Bearer ${inject("token")}` });

export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${baseUrl()}${path}`, { ...init, headers: { ...authHeader(), ...(init.headers as Record<string, string>) } });
}

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return api(path, { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } });
}

/**
 * A GET request that carries a body (Numaflow's SSE convention). WHATWG fetch forbids it, so this
 * uses node:http with a Content-Length. Resolves with the response stream.
 */
export function getWithBody(path: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
    const req = httpRequest(`${baseUrl()}${path}`, {
      method: "GET",
      headers: { ...authHeader(), "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers },
    });
    req.on("response", resolve);
    req.on("error", reject);
    req.end(body);
  });
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}
