// Tests that run inside workerd (the Workers runtime) with real Durable Objects and SQLite from
// Miniflare, configured from wrangler.toml. End-to-end tests against `wrangler dev` have their own
// config (vitest.e2e.config.ts) because they run in Node.
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // Test-only knobs stay here, never in wrangler.toml.
        bindings: { EDGESERVE_WATCHDOG_SECONDS: "1" },
      },
    }),
  ],
  test: {
    include: ["test/{unit,integration,durable-objects}/**/*.test.ts"],
    setupFiles: ["./test/setup.ts"],
  },
});
