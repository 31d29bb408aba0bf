// Tests that run inside workerd (the Workers runtime) with real Durable Objects, SQLite and D1 from
// Miniflare, configured from wrangler.toml. End-to-end tests against `wrangler dev` have their own
// config (vitest.e2e.config.ts) because they run in Node.
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { freePort } from "./scripts/dev-server.mjs";

/**
 * `EDGESERVE_TEST_RUN_HOST=journal` runs the behavioural tests again with every pipeline on the
 * journal host (test/setup.ts moves them): one suite, both hosts (`npm test` runs both).
 */
const runHost = process.env.EDGESERVE_TEST_RUN_HOST === "journal" ? "journal" : "object";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  // The StateFun function server (test/functions/) listens here; its global setup reads the port.
  const functionsPort = await freePort();
  process.env.EDGESERVE_TEST_FUNCTIONS_PORT = String(functionsPort);
  // The example model server (test/model/global-setup.ts) of the `chat` pipeline listens here.
  const modelPort = await freePort();
  process.env.EDGESERVE_TEST_MODEL_PORT = String(modelPort);
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          // Test-only knobs stay here, never in wrangler.toml.
          // One admission shard makes the limits exact, so admission tests can count on them.
          bindings: {
            EDGESERVE_WATCHDOG_SECONDS: "1",
            EDGESERVE_ADMISSION_SHARDS: "1",
            // Small enough for test/integration/limits.test.ts to reach; races.test.ts opens 30.
            EDGESERVE_MAX_SUBSCRIBERS: "40",
            // test/remote/remote-steps.test.ts fills a mailbox to it; no other test holds 20 invocations at one address.
            EDGESERVE_MAX_MAILBOX: "20",
            EDGESERVE_FUNCTIONS_URL: `http://127.0.0.1:${functionsPort}`,
            EDGESERVE_MODEL_URL: `http://127.0.0.1:${modelPort}`,
            TEST_MIGRATIONS: migrations,
            TEST_RUN_HOST: runHost,
          },
          // Deliver within 50 ms, so tests that list jobs or run queued steps need not wait a second.
          queueConsumers: {
            // Two redeliveries (2 s, then 4 s: the consumer's backoff) before the dead-letter queue,
            // so that a D1 outage reaches it in seconds (test/queues/run-index-outage.test.ts).
            "edgeserve-run-index": { maxBatchSize: 100, maxBatchTimeout: 0.05, maxRetries: 2, deadLetterQueue: "edgeserve-run-index-dlq" },
            "edgeserve-run-index-dlq": { maxBatchSize: 100, maxBatchTimeout: 0.05, maxRetries: 5 },
            // (Restated in full: an entry here may replace wrangler.toml's for that queue.)
            "edgeserve-stages": { maxBatchSize: 10, maxBatchTimeout: 0.05, maxRetries: 20, retryDelay: 2, deadLetterQueue: "edgeserve-stages-dlq" },
            "edgeserve-stages-dlq": { maxBatchSize: 10, maxBatchTimeout: 0.05, maxRetries: 10, retryDelay: 5 },
          },
        },
      }),
    ],
    test: {
      // Unit tests and the object host's own (legacy tables) are host-independent: run once.
      include:
        runHost === "journal"
          ? ["test/{integration,durable-objects,queues,remote,results}/**/*.test.ts"]
          : ["test/{unit,integration,durable-objects,queues,remote,results,fuzz}/**/*.test.ts"],
      exclude: runHost === "journal" ? ["test/durable-objects/legacy-sql-run.test.ts"] : [],
      setupFiles: ["./test/setup.ts"],
      globalSetup: ["./test/functions/global-setup.ts", "./test/model/global-setup.ts"],
    },
  };
});
