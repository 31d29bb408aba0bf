/**
 * Bearer-token auth with tokens configured: the app is called with the real bindings plus a
 * token setting (as a Worker secret would add it). Proves Numaflow's 401 (empty body), rotation
 * with two valid tokens, and that the id check runs before auth.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { createApp } from "../../src/app";

const app = createApp();
const securedEnv = { ...env, EDGESERVE_AUTH_TOKENS: "first-token, second-token" };

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://edgeserve.test${path}`, init), securedEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const body = JSON.stringify({ text: "a" });

describe("bearer auth", () => {
  it("answers 401 with an empty body when the token is missing", async ({ expect }) => {
    const res = await request("/v1/process/sync", { method: "POST", body });
    expect(res.status).toBe(401);
    expect(await res.text()).toBe("");
  });

  it("answers 401 for a wrong token, and never echoes it", async ({ expect }) => {
    const res = await request("/v1/process/sync", { method: "POST", body, headers: { Authorization: "Bearer guess" } });
    expect(res.status).toBe(401);
    expect(JSON.stringify([...res.headers])).not.toContain("guess");
  });

  it("accepts every configured token, so a token can be rotated", async ({ expect }) => {
    for (const token of ["first-token", "second-token"]) {
      const res = await request("/v1/process/sync", { method: "POST", body, headers: { Authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    }
  });

  it("takes the scheme name in any case (RFC 7235: bearer, BEARER)", async ({ expect }) => {
    // Together: each call here waits for its admission block's window (2 s) before it returns.
    const schemes = ["bearer", "BEARER", "BeArEr"];
    const statuses = await Promise.all(
      schemes.map(async (scheme) => (await request("/v1/process/sync", { method: "POST", body, headers: { Authorization: `${scheme} first-token` } })).status),
    );
    expect(statuses).toEqual([200, 200, 200]);
  });

  it("refuses a token setting that names no token, rather than turning auth off", async ({ expect }) => {
    for (const tokens of [",", " ", " , ,"]) {
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request("http://edgeserve.test/v1/process/sync", { method: "POST", body }),
        { ...env, EDGESERVE_AUTH_TOKENS: tokens },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      expect(res.status, JSON.stringify(tokens)).toBe(500);
      expect(await res.text()).toContain("EDGESERVE_AUTH_TOKENS");
    }
  });

  it("requires a token on fetch, status and sse too", async ({ expect }) => {
    for (const path of ["/v1/process/fetch?id=x", "/v1/process/status?id=x", "/v1/process/sse?id=x"]) {
      expect((await request(path)).status).toBe(401);
    }
  });

  it("checks the id before the token, as Numaflow does", async ({ expect }) => {
    const res = await request("/v1/process/sync", { method: "POST", body, headers: { "X-Numaflow-Id": "a.b" } });
    expect(res.status).toBe(400);
  });

  it("checks edgeserve's own id rules after the token: a caller without one learns nothing of them", async ({ expect }) => {
    for (const id of ["has space", "x~y", "z".repeat(129)]) {
      const anonymous = await request("/v1/process/sync", { method: "POST", body, headers: { "X-Numaflow-Id": id } });
      expect(anonymous.status).toBe(401);
      expect(await anonymous.text()).toBe("");
      const signed = await request("/v1/process/sync", { method: "POST", body, headers: { "X-Numaflow-Id": id, Authorization: "Bearer first-token" } });
      expect(signed.status).toBe(400);
      expect(((await signed.json()) as { error_code: string }).error_code).toBe("invalid_run_id");
    }
  });

  it("leaves only ZenML's /health open; the probes need a token too", async ({ expect }) => {
    expect((await request("/health")).status).toBe(200);
    const refused = await request("/livez");
    expect(refused.status).toBe(401);
    // Numaflow's 401 has an empty body.
    expect(await refused.text()).toBe("");
    expect((await request("/readyz")).status).toBe(401);
    expect((await request("/livez", { headers: { Authorization: "Bearer second-token" } })).status).toBe(204);
    // A pipeline's base URL has its probes too, for a Numaflow client given that URL.
    const pipelineRefused = await request("/pipelines/sleep/readyz");
    expect(pipelineRefused.status).toBe(401);
    expect(await pipelineRefused.text()).toBe("");
    const auth = { headers: { Authorization: "Bearer second-token" } };
    expect((await request("/pipelines/sleep/livez", auth)).status).toBe(204);
    expect((await request("/pipelines/sleep/readyz", auth)).status).toBe(204);
    const unknown = await request("/pipelines/no-such-pipeline/livez", auth);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 404, error_code: "pipeline_not_found" });
  });

  it("serves the console's and the API reference's static pages and scripts without a token, but not the API or its document", async ({ expect }) => {
    for (const path of ["/", "/console/client.js", "/console/main.js", "/console/console.css", "/favicon.svg", "/docs", "/docs/page.js", "/docs/scalar.js"]) {
      expect((await request(path)).status, path).toBe(200);
    }
    for (const path of ["/openapi.json", "/v1/pipelines", "/v1/runs/x"]) expect((await request(path)).status, path).toBe(401);
  });

  it("requires a token on every ZenML route but /health, answering in FastAPI's shape", async ({ expect }) => {
    for (const path of ["/info", "/status", "/metrics", "/jobs", "/jobs/x", "/stream/x"]) {
      const res = await request(path);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ detail: "Not authenticated" });
    }
    expect((await request("/invoke", { method: "POST", body: '{"parameters":{"text":"a"}}' })).status).toBe(401);
    const ok = await request("/info", { headers: { Authorization: "Bearer second-token" } });
    expect(ok.status).toBe(200);
  });

  it("requires a token on the native API", async ({ expect }) => {
    expect((await request("/v1/pipelines/word-stats/runs/x")).status).toBe(401);
  });
});
