// Runs before every workerd test file: the D1 run index's migrations (idempotent) and the
// test-only pipelines.
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { listPipelines } from "../src/catalog";
import { registerTestPipelines } from "./helpers/test-pipelines";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
registerTestPipelines();
// The journal run of the suite (vitest.config.ts): every pipeline that has a host moves to the
// journal host, in this isolate's catalog, which the Worker and every object of the tests share.
if (env.TEST_RUN_HOST === "journal") {
  for (const pipeline of listPipelines()) if (pipeline.definition.runtime !== "memory-only") pipeline.definition.runHost = "journal";
}
