// Runs before every workerd test file: the D1 run index's migrations (idempotent) and the
// test-only pipelines.
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { registerTestPipelines } from "./helpers/test-pipelines";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
registerTestPipelines();
