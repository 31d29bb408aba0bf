// Bindings only the test runtime has (vitest.config.ts).
declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** Which run host the suite runs on (vitest.config.ts): `object`, or `journal` for every pipeline. */
    TEST_RUN_HOST: "object" | "journal";
    /** The test StateFun function server (test/functions/), started by the global setup. */
    EDGESERVE_FUNCTIONS_URL: string;
  }
}
