// Tests that run inside workerd (the Workers runtime) with real Durable Objects, SQLite and D1 from
// Miniflare, configured from wrangler.toml. End-to-end tests against `wrangler dev` have their own
// config (vitest.e2e.config.ts) because they run in Node.
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Test-only knobs stay here, never in wrangler.toml.
          // One admission shard makes the limits exact, so admission tests can count on them.
          bindings: { EDGESERVE_WATCHDOG_SECONDS: "1", EDGESERVE_ADMISSION_SHARDS: "1", TEST_MIGRATIONS: migrations },
          // Deliver index rows within 50 ms, so tests that list jobs need not wait a second.
          queueConsumers: { "edgeserve-run-index": { maxBatchTimeout: 0.05 } },
        },
      }),
    ],
    test: {
      include: ["test/{unit,integration,durable-objects,queues}/**/*.test.ts"],
      setupFiles: ["./test/setup.ts"],
    },
  };
});
