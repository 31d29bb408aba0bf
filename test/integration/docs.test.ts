/**
 * The API reference at `/docs` is served by the Worker alone: the page names only scripts of this
 * server (Scalar's bundle from the static assets `npm run build` writes), under a policy that
 * allows no other source; page and scripts are open (static, no data) while the document they
 * render still needs a token. The page itself is driven in Chromium by test/e2e/docs.e2e.test.ts.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { createApp } from "../../src/app";

const app = createApp();
const securedEnv = { ...env, EDGESERVE_AUTH_TOKENS: "docs-token" };

async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://edgeserve.test${path}`, init), securedEnv, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("/docs", () => {
  it("is a page of this server's scripts only, under a strict policy, open without a token", async ({ expect }) => {
    const res = await request("/docs");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts).toEqual(['<script src="/docs/scalar.js">', '<script src="/docs/page.js">']);
    // No address of another host anywhere in the page.
    expect(html).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i);

    const policy = res.headers.get("content-security-policy") ?? "";
    const directives = new Map(
      policy
        .split(";")
        .map((d) => d.trim().split(/\s+/) as [string, ...string[]])
        .map(([name, ...values]) => [name, values]),
    );
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(directives.get("script-src")).toEqual(["'self'"]);
    expect(directives.get("connect-src")).toEqual(["'self'"]);
    expect(directives.get("style-src")).toEqual(["'self'", "'unsafe-inline'"]);
  });

  it("serves Scalar's browser bundle from the static assets, and the page's script", async ({ expect }) => {
    const scalar = await request("/docs/scalar.js");
    expect(scalar.status).toBe(200);
    expect(scalar.headers.get("content-type")).toContain("javascript");
    const bundle = await scalar.text();
    expect(bundle).toContain("createApiReference");
    expect(bundle.length).toBeGreaterThan(1_000_000);

    const page = await request("/docs/page.js");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("javascript");
    expect(await page.text()).toContain('fetch("/openapi.json"');
  });

  it("still needs a token for the document the page renders", async ({ expect }) => {
    expect((await request("/openapi.json")).status).toBe(401);
    expect((await request("/openapi.json", { headers: { Authorization: "Bearer docs-token" } })).status).toBe(200);
  });

  it("answers 405 with Allow for another method", async ({ expect }) => {
    const res = await request("/docs", { method: "POST" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET");
  });
});
