/**
 * The API-only deployment (`npm run dev -- --api-only`, wrangler.api-only.toml): the same Worker
 * without static assets. Runs on every run host and every surface work as on the full deployment;
 * the console, /docs and the favicon answer 404 in the JSON error shape, saying the deployment is
 * API-only. A second `wrangler dev` is started here, without tokens.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, it, vi } from "vitest";
import { startDevServer } from "../../scripts/dev-server.mjs";

const TEXT = { text: "It was the best of times, it was the worst of times." };
let server: Awaited<ReturnType<typeof startDevServer>> | undefined;
const devOutput: string[] = [];

beforeAll(async () => {
  server = await startDevServer({ apiOnly: true, log: (line: string) => devOutput.push(line) });
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe("API-only deployment", () => {
  it("is wrangler.toml without its [assets] table", ({ expect }) => {
    const full = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
    const apiOnly = readFileSync(new URL("../../wrangler.api-only.toml", import.meta.url), "utf8");
    expect(full).toContain("[assets]");
    expect(apiOnly).not.toContain("[assets]");
    expect(apiOnly).not.toContain('binding = "ASSETS"');
  });

  it.for(["word-stats", "word-stats-journal", "word-stats-memory"])("serves a sync run of %s", async (pipeline, { expect }) => {
    const res = await fetch(`${server!.url}/pipelines/${pipeline}/v1/process/sync`, { method: "POST", body: JSON.stringify(TEXT) });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-numaflow-id")).toBeTruthy();
    const result = (await res.json()) as { words: number };
    expect(result.words).toBe(12);
  });

  it("serves the native and ZenML surfaces", async ({ expect }) => {
    const native = await fetch(`${server!.url}/v1/pipelines/word-stats/runs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(TEXT),
    });
    expect(native.status).toBe(200);
    expect(((await native.json()) as { status: string }).status).toBe("completed");
    const info = await fetch(`${server!.url}/pipelines/word-stats/info`);
    expect(info.status).toBe(200);
  });

  it.for(["/", "/console/main.js", "/favicon.svg", "/docs", "/docs/page.js", "/docs/scalar.js", "/pipelines/word-stats/", "/pipelines/word-stats/redoc"])(
    "answers %s with 404, saying it is API-only",
    async (path, { expect }) => {
      const res = await fetch(`${server!.url}${path}`);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe("route_not_found");
      expect(body.message).toContain("API-only");
    },
  );

  it("npm run dev -- --api-only says it serves no console", async ({ expect }) => {
    await vi.waitFor(() => expect(devOutput).toContain(`[edgeserve] API only (no console, no /docs): http://127.0.0.1:${server!.port}`), {
      timeout: 10_000,
      interval: 100,
    });
    expect(devOutput.some((line) => line.includes("[edgeserve] console:"))).toBe(false);
  });
});
