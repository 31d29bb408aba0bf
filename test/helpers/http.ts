/** Small helpers to call the Worker inside workerd through `exports.default.fetch`. */
import { exports } from "cloudflare:workers";

export const BASE = "http://edgeserve.test";

export function call(path: string, init?: RequestInit): Promise<Response> {
  return exports.default.fetch(`${BASE}${path}`, init);
}

export function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return call(path, { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), headers });
}

export async function bodyText(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer());
}

/** Splits a Numaflow multi-result body with its `Numaflow-Array-Index-Len` header. */
export async function numaflowResults(response: Response): Promise<string[]> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const lengths = (response.headers.get("numaflow-array-index-len") ?? "").split(",").filter(Boolean).map(Number);
  const results: string[] = [];
  let offset = 0;
  for (const length of lengths) {
    results.push(new TextDecoder().decode(bytes.subarray(offset, offset + length)));
    offset += length;
  }
  return results;
}
