#!/usr/bin/env node
// `npm run deploy` and `deploy:check` run this first: a configuration that turns on the chaos
// switches (EDGESERVE_CHAOS, development only: it mounts a route that resets Run objects) is never
// deployed. The config is read the way wrangler reads it (its own reader), in every environment.
//   node scripts/check-deploy-config.mjs [--config wrangler.toml]
import { experimental_readRawConfig, unstable_readConfig } from "wrangler";

const at = process.argv.indexOf("--config");
const configPath = at > 0 ? process.argv[at + 1] : "wrangler.toml";
// Each environment resolved as `wrangler deploy --env <name>` would see it (its vars do not inherit).
const names = Object.keys(experimental_readRawConfig({ config: configPath }).rawConfig.env ?? {});
const environments = [
  ["top level", unstable_readConfig({ config: configPath }).vars ?? {}],
  ...names.map((name) => [`env.${name}`, unstable_readConfig({ config: configPath, env: name }).vars ?? {}]),
];
const offending = environments.filter(([, vars]) => String(vars.EDGESERVE_CHAOS ?? "").toLowerCase() === "on").map(([where]) => where);
if (offending.length > 0) {
  console.error(`edgeserve: refusing to deploy ${configPath}: EDGESERVE_CHAOS is on (${offending.join(", ")}); it is for local chaos runs only`);
  process.exit(1);
}
