/**
 * Bad input on the Numaflow surface and on unknown routes: every case is a 4xx with a JSON body
 * that carries a stable code, never a 500 and never a stack trace.
 */
import { describe, expect, it } from "vitest";
import { call, post } from "../helpers/http";
import { uniqueId } from "../helpers/unique";

async function errorOf(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  expect(text).not.toMatch(/\bat \S+ \(|\.ts:\d+/); // no stack frames
  return JSON.parse(text) as Record<string, unknown>;
}

describe("input validation", () => {
  it("answers 400 malformed_json for a body that is not JSON", async ({ expect }) => {
    const res = await post("/v1/process/sync", "{not json");
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ error_code: "malformed_json", code: 400 });
  });

  it("answers 400 malformed_json for an empty body", async ({ expect }) => {
    const res = await post("/v1/process/sync", "");
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain("empty");
  });

  it("answers 400 malformed_json for bytes that are not UTF-8", async ({ expect }) => {
    const res = await call("/v1/process/sync", { method: "POST", body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toContain("UTF-8");
  });

  it("answers 400 invalid_input with the path of each problem", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: 42 });
    expect(res.status).toBe(400);
    const body = await errorOf(res);
    expect(body).toMatchObject({ error_code: "invalid_input", details: [{ path: ["text"] }] });
  });

  it("rejects unknown keys in the input", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: "a", extra: true });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ error_code: "invalid_input" });
  });

  it("rejects sleep times outside 0–60000 ms", async ({ expect }) => {
    expect((await post("/pipelines/sleep/v1/process/sync", { ms: 60_001 })).status).toBe(400);
    expect((await post("/pipelines/sleep/v1/process/sync", { ms: 1.5 })).status).toBe(400);
  });

  it("starts no run when the input is rejected", async ({ expect }) => {
    const id = uniqueId("rejected");
    await post("/v1/process/async", { text: [] }, { "X-Numaflow-Id": id });
    expect((await call(`/v1/process/fetch?id=${id}`)).status).toBe(404);
    expect((await post("/v1/process/async", { text: "ok" }, { "X-Numaflow-Id": id })).status).toBe(200);
  });

  it("answers 413 for a body over the limit", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: "a".repeat(2 * 1024 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect(await errorOf(res)).toMatchObject({ error_code: "payload_too_large" });
  });
});

describe("request ids", () => {
  it("rejects an X-Numaflow-Id containing '.' with Numaflow's message, as bare text with no content type, as Numaflow sends it", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: "a" }, { "X-Numaflow-Id": "1747681939.045399" });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBeNull();
    expect(await res.text()).toBe("Header-ID should not contain '.', found 1747681939.045399");
  });

  it("rejects an over-long id", async ({ expect }) => {
    const res = await post("/v1/process/sync", { text: "a" }, { "X-Numaflow-Id": "x".repeat(129) });
    expect(res.status).toBe(400);
  });

  it("reads fetch's and status's id from the query only: an id header they do not use is not checked", async ({ expect }) => {
    const id = uniqueId("query-only");
    expect((await post("/v1/process/sync", { text: "a" }, { "X-Numaflow-Id": id })).status).toBe(200);
    for (const path of [`/v1/process/fetch?id=${id}`, `/v1/process/status?id=${id}`]) {
      expect((await call(path, { headers: { "X-Numaflow-Id": "has space" } })).status).toBe(200);
    }
  });

  it("answers a probe asked with another method 405 with Allow: GET", async ({ expect }) => {
    for (const path of ["/livez", "/readyz"]) {
      const res = await call(path, { method: "POST" });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("GET");
    }
    expect((await call("/livez")).status).toBe(204);
  });

  it("rejects an over-long id in ?id=", async ({ expect }) => {
    expect((await call(`/v1/process/fetch?id=${"y".repeat(500)}`)).status).toBe(400);
  });
});

describe("routing errors", () => {
  it("answers 404 pipeline_not_found for an unknown pipeline", async ({ expect }) => {
    const res = await post("/pipelines/nope/v1/process/sync", { text: "a" });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ error_code: "pipeline_not_found" });
  });

  it("answers 404 route_not_found for an unknown route, in the native shape", async ({ expect }) => {
    const res = await call("/no/such/route");
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ code: "route_not_found" });
  });

  it("answers 405 with Allow for a wrong method", async ({ expect }) => {
    const res = await call("/v1/process/sync");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect(await errorOf(res)).toMatchObject({ error_code: "method_not_allowed" });
    expect((await call("/v1/process/fetch?id=x", { method: "DELETE" })).status).toBe(405);
  });

  it("sets X-Content-Type-Options on every response", async ({ expect }) => {
    expect((await call("/no/such/route")).headers.get("x-content-type-options")).toBe("nosniff");
  });
});
