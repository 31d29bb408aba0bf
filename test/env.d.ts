// Bindings only the test runtime has (vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** The test StateFun function server (test/functions/), started by the global setup. */
    EDGESERVE_FUNCTIONS_URL: string;
  }
}
