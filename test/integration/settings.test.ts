/**
 * Deployment settings: validated before any request is served, with errors that name the setting.
 * The app is called with the real bindings and one var changed, as wrangler.toml or an
 * environment override under `npm run dev` would change it.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { createApp } from "../../src/app";

const app = createApp();

async function withVars(vars: Record<string, string>, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`http://edgeserve.test${path}`, init), { ...env, ...vars }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

describe("settings", () => {
  it("names a setting whose value is not valid", async ({ expect }) => {
    const res = await withVars({ EDGESERVE_REQUEST_TIMEOUT_SECONDS: "soon" }, "/v1/process/fetch?id=x");
    expect(res.status).toBe(500);
    const body = (await res.json()) as { error_code: string; message: string };
    expect(body.error_code).toBe("invalid_configuration");
    expect(body.message).toContain("EDGESERVE_REQUEST_TIMEOUT_SECONDS");
  });

  it("names a default pipeline that is not deployed", async ({ expect }) => {
    const res = await withVars({ EDGESERVE_DEFAULT_PIPELINE: "nope" }, "/no-route");
    expect(res.status).toBe(500);
    expect(((await res.json()) as { message: string }).message).toContain("EDGESERVE_DEFAULT_PIPELINE");
  });

  it("serves another pipeline at the root when the default is changed", async ({ expect }) => {
    const res = await withVars({ EDGESERVE_DEFAULT_PIPELINE: "sentences" }, "/v1/process/sync", {
      method: "POST",
      body: JSON.stringify({ text: "One. Two." }),
    });
    expect(res.headers.get("numaflow-array-len")).toBe("2");
  });

  it("applies a smaller body limit", async ({ expect }) => {
    const res = await withVars({ EDGESERVE_MAX_BODY_BYTES: "10" }, "/v1/process/sync", {
      method: "POST",
      body: JSON.stringify({ text: "longer than ten bytes" }),
    });
    expect(res.status).toBe(413);
  });

  it("uses another id header when EDGESERVE_ID_HEADER says so", async ({ expect }) => {
    const res = await withVars({ EDGESERVE_ID_HEADER: "X-Request-Id" }, "/v1/process/sync", {
      method: "POST",
      body: JSON.stringify({ text: "a" }),
      headers: { "X-Request-Id": `custom-${crypto.randomUUID()}` },
    });
    expect(res.headers.get("x-request-id")).toMatch(/^custom-/);
  });
});
