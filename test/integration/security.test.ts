/**
 * Security promises (SECURITY.md): strict CORS unless origins are configured, the headers a
 * scanner expects, a Content-Security-Policy on the console, and tokens never echoed back.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import worker from "../../src/index";
import { call } from "../helpers/http";

async function withEnv(overrides: Record<string, unknown>, path: string, init: RequestInit = {}) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://edgeserve.test${path}`, init), { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const preflight = {
  method: "OPTIONS",
  headers: { Origin: "https://app.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" },
};

describe("security", () => {
  it("grants no cross-origin access by default", async ({ expect }) => {
    const res = await call("/v1/pipelines", preflight);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const get = await call("/v1/pipelines", { headers: { Origin: "https://app.example" } });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("allows exactly the configured origins, with the token header", async ({ expect }) => {
    const allowed = await withEnv({ EDGESERVE_CORS_ORIGINS: "https://app.example" }, "/v1/pipelines", preflight);
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(allowed.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
    const other = await withEnv({ EDGESERVE_CORS_ORIGINS: "https://app.example" }, "/v1/pipelines", {
      ...preflight,
      headers: { ...preflight.headers, Origin: "https://evil.example" },
    });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("sends the headers a scanner expects, and a CSP on the console", async ({ expect }) => {
    for (const path of ["/", "/v1/pipelines", "/v1/process/fetch?id=nope", "/health"]) {
      const res = await call(path);
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("referrer-policy"), path).toBe("no-referrer");
    }
    const page = await call("/");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'");
  });

  it("never echoes a token back", async ({ expect }) => {
    const secret = "s3cr3t-token-value";
    const wrong = "guessed-token-value";
    for (const path of ["/v1/process/sync", "/invoke", "/v1/pipelines"]) {
      const res = await withEnv({ EDGESERVE_AUTH_TOKENS: secret }, path, { method: "POST", body: "{}", headers: { Authorization: `Bearer ${wrong}` } });
      expect(res.status, path).toBe(401);
      const text = await res.text();
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(secret);
      expect([...res.headers.values()].join(" ")).not.toContain(wrong);
    }
  });
});

/** The run index (D1), counting the statements prepared on it. */
function countingDb(): { db: D1Database; prepared: () => number } {
  let prepared = 0;
  const db = new Proxy(env.DB, {
    get(target, property) {
      if (property === "prepare") prepared++;
      const value: unknown = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { db, prepared: () => prepared };
}

describe("ZenML's open /health with tokens configured", () => {
  const token = "health-token";
  const paths = ["/health", "/pipelines/word-stats/health", "/pipelines/sleep/health", "/pipelines/no-such-pipeline/health"];

  it("tells a caller without a valid token only that the service is up, the same for every path, without reading D1", async ({ expect }) => {
    const answers: { status: number; body: string }[] = [];
    for (const path of paths) {
      for (const headers of [{}, { Authorization: "Bearer wrong-token" }] as Record<string, string>[]) {
        const { db, prepared } = countingDb();
        const res = await withEnv({ EDGESERVE_AUTH_TOKENS: token, DB: db }, path, { headers });
        answers.push({ status: res.status, body: await res.text() });
        expect(prepared(), path).toBe(0);
      }
    }
    expect(answers[0]).toEqual({ status: 200, body: JSON.stringify({ status: "healthy" }) });
    expect(answers.every((a) => a.status === answers[0]!.status && a.body === answers[0]!.body)).toBe(true);
  });

  it("gives a valid token the full answer, and 404 for an unknown pipeline", async ({ expect }) => {
    const auth = { headers: { Authorization: `Bearer ${token}` } };
    const res = await withEnv({ EDGESERVE_AUTH_TOKENS: token }, "/pipelines/sleep/health", auth);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: "healthy", pipeline_name: "sleep", deployment_id: "sleep@1" });
    expect(Object.keys(body)).toContain("last_execution");
    expect((await withEnv({ EDGESERVE_AUTH_TOKENS: token }, "/pipelines/no-such-pipeline/health", auth)).status).toBe(404);
  });

  it("answers in full to anyone when no token is configured", async ({ expect }) => {
    const res = await call("/pipelines/sleep/health");
    expect(Object.keys((await res.json()) as object)).toEqual(["status", "deployment_id", "pipeline_name", "uptime", "last_execution"]);
    expect((await call("/pipelines/no-such-pipeline/health")).status).toBe(404);
  });
});
