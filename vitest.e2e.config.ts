// End-to-end tests: plain Node, against a real `wrangler dev` started by test/e2e/global-setup.ts,
// driven over HTTP with fetch, node:http (GET with a body) and a real SSE client library.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    globalSetup: ["./test/e2e/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // One wrangler dev serves every file; running files one after another keeps 2 cores calm.
    fileParallelism: false,
  },
});
