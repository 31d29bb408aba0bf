/**
 * Starts one `wrangler dev` for the end-to-end suite through the same script as `npm run dev`,
 * with environment overrides (proving that EDGESERVE_* variables override wrangler.toml) and a
 * bearer token configured, so every e2e request also proves auth.
 */
import type { TestProject } from "vitest/node";
import { startDevServer } from "../../scripts/dev-server.mjs";

export const E2E_TOKEN = "e2e-token";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startDevServer({
    env: { EDGESERVE_SSE_HEARTBEAT_SECONDS: "1" },
    args: ["--var", `EDGESERVE_AUTH_TOKENS:${E2E_TOKEN}`],
  });
  project.provide("baseUrl", server.url);
  project.provide("token", E2E_TOKEN);
  return () => server.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    token: string;
  }
}
