/**
 * Security promises (SECURITY.md): strict CORS unless origins are configured, the headers a
 * scanner expects, a Content-Security-Policy on the console, and tokens never echoed back.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { call, post } from "../helpers/http";
import { inHostedRun } from "../helpers/runs";
import { storedHeaders } from "../helpers/stored-run";
import { uniqueId } from "../helpers/unique";

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
    const csp = page.headers.get("content-security-policy") ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    // Strict: no inline script or style of any kind.
    expect(csp).not.toContain("unsafe-inline");
    expect(await page.text()).not.toMatch(/<script>|<style>|\sstyle="|\son[a-z]+="/);
  });

  it("serves the console's page, scripts, styles and favicon from static assets, and nothing else under /console/", async ({ expect }) => {
    const assets: [string, string][] = [
      ["/", "text/html"],
      ["/console/main.js", "javascript"],
      ["/console/client.js", "javascript"],
      ["/console/console.css", "text/css"],
      ["/favicon.svg", "image/svg+xml"],
    ];
    for (const [path, type] of assets) {
      const res = await call(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type"), path).toContain(type);
      expect(res.headers.get("content-security-policy"), path).toContain("script-src 'self'");
    }
    // The generated client's types are for type-checking only (public/.assetsignore).
    for (const path of ["/console/client.d.ts", "/console/nope.js"]) {
      const res = await call(path);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toMatchObject({ code: "route_not_found" });
    }
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

describe("credential headers", () => {
  /** Every value holds "secret", so a leak shows wherever it lands. */
  const credentials = {
    Authorization: "Bearer secret-a",
    "Proxy-Authorization": "Basic secret-b",
    Cookie: "session=secret-c",
    "X-Api-Key": "secret-d",
    "Cf-Access-Jwt-Assertion": "secret-e",
    "CF-Access-Client-Secret": "secret-f",
    // Named by EDGESERVE_STRIP_HEADERS below: one by name, one by prefix.
    "X-Tenant-Token": "secret-g",
    "X-Internal-Signature": "secret-h",
  };
  const headers = { ...credentials, "X-Trace": "trace-1", "Content-Type": "application/json" };
  const settings = { EDGESERVE_STRIP_HEADERS: "X-Tenant-Token, x-internal-*" };

  function expectClean(what: string, seen: unknown): void {
    const text = JSON.stringify(seen);
    expect(text, what).toContain("trace-1");
    expect(text, what).not.toContain("secret");
  }

  const stored = (pipeline: string, runId: string) => inHostedRun(pipeline, runId, (run) => storedHeaders(run.store));

  it("never reach a step or the stored run on Numaflow sync (stored and memory-only)", async () => {
    const id = uniqueId("headers");
    const res = await withEnv(settings, "/pipelines/test-headers/v1/process/sync", {
      method: "POST",
      body: "{}",
      headers: { ...headers, "X-Numaflow-Id": id },
    });
    expect(res.status).toBe(200);
    expectClean("step", await res.json());
    expectClean("stored", await stored("test-headers", id));
    const memory = await withEnv(settings, "/pipelines/test-headers-memory/v1/process/sync", { method: "POST", body: "{}", headers });
    expect(memory.status).toBe(200);
    expectClean("memory-only step", await memory.json());
  });

  it("never reach a step or the stored run on ZenML /invoke (stored and memory-only)", async () => {
    const res = await withEnv(settings, "/pipelines/test-headers/invoke", { method: "POST", body: '{"parameters": {}}', headers });
    const body = (await res.json()) as { success: boolean; job_id: string; results: unknown };
    expect(body.success).toBe(true);
    expectClean("step", body.results);
    expectClean("stored", await stored("test-headers", body.job_id));
    const memory = (await (
      await withEnv(settings, "/pipelines/test-headers-memory/invoke", { method: "POST", body: '{"parameters": {}}', headers })
    ).json()) as {
      results: unknown;
    };
    expectClean("memory-only step", memory.results);
  });

  it("never reach a step or the stored run on a native start", async () => {
    const res = await withEnv(settings, "/v1/pipelines/test-headers/runs", { method: "POST", body: "{}", headers });
    expect(res.status).toBe(200);
    const run = (await res.json()) as { id: string; results: unknown };
    expectClean("step", run.results);
    expectClean("stored", await stored("test-headers", run.id));
  });

  it("never reach a step or the stored run of a ZenML WebSocket job", async () => {
    const res = await withEnv(settings, "/pipelines/test-headers/stream", { headers: { ...headers, Upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const socket = res.webSocket!;
    socket.accept();
    const frames: { event_type: string; job_id: string; data: { result?: unknown } }[] = [];
    const closed = new Promise<void>((resolve) => socket.addEventListener("close", () => resolve()));
    socket.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string) as (typeof frames)[number]));
    socket.send('{"parameters": {}}');
    await closed;
    const done = frames.find((f) => f.event_type === "pipeline_completed");
    expectClean("step", done?.data.result);
    expectClean("stored", await stored("test-headers", done!.job_id));
  });

  it("refuses a strip list entry that is not a header name", async () => {
    const res = await withEnv({ EDGESERVE_STRIP_HEADERS: "x-ok, not a header" }, "/v1/pipelines");
    expect(res.status).toBe(500);
    expect(await res.text()).toContain("EDGESERVE_STRIP_HEADERS");
  });
});

describe("run id namespaces", () => {
  it("no Numaflow or ZenML id can address a native run: ids with '~' are refused (400 invalid_run_id)", async () => {
    const key = uniqueId("idem");
    const created = await post("/v1/pipelines/word-stats/runs", { text: "a b" }, { "Idempotency-Key": key });
    const nativeId = ((await created.json()) as { id: string }).id;
    expect(nativeId).toContain("~");
    const attempts: [string, RequestInit][] = [
      [`/v1/process/fetch?id=${nativeId}`, {}],
      [`/v1/process/status?id=${nativeId}`, {}],
      [`/v1/process/sse?id=${nativeId}`, {}],
      ["/v1/process/sync", { method: "POST", body: '{"text": "x"}', headers: { "X-Numaflow-Id": `word-stats~${uniqueId("claim")}` } }],
      ["/v1/process/async", { method: "POST", body: '{"text": "x"}', headers: { "X-Numaflow-Id": `word-stats~${uniqueId("claim")}` } }],
      [`/jobs/${nativeId}`, {}],
      [`/stream/${nativeId}`, {}],
      [`/jobs/${nativeId}/cancel`, { method: "POST" }],
    ];
    for (const [path, init] of attempts) {
      const res = await call(path, init);
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as { code?: unknown; error_code?: unknown };
      expect(body.error_code ?? body.code, path).toBe("invalid_run_id");
    }
    // Numaflow's own ids, chosen or generated, are as before.
    const chosen = uniqueId("nf_id-1");
    expect((await call("/v1/process/sync", { method: "POST", body: '{"text": "x"}', headers: { "X-Numaflow-Id": chosen } })).status).toBe(200);
    expect((await call(`/v1/process/fetch?id=${chosen}`)).status).toBe(200);
  });
});
