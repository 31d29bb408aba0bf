#!/usr/bin/env node
// `npm run dev`: serves the example pipelines on http://127.0.0.1:8787 with `wrangler dev`, all
// bindings embedded in workerd (no account, no network). Any EDGESERVE_* environment variable
// overrides the wrangler.toml var of the same name, e.g.
//   EDGESERVE_REQUEST_TIMEOUT_SECONDS=5 npm run dev
// Extra arguments are passed on to wrangler (e.g. `npm run dev -- --port 8788` serves on port 8788).
// Once the server answers, it prints the console's URL (and the API reference's).
// `npm run dev -- --api-only` serves the API-only deployment instead (wrangler.api-only.toml, written
// by scripts/api-only-config.mjs): no static assets, so no console, and no asset router per request.
//
// It also serves the example StateFun functions (examples/functions/server.mjs) on
// 127.0.0.1:9090 (EDGESERVE_FUNCTIONS_PORT changes the port), unless EDGESERVE_FUNCTIONS_URL
// points the `greeter` pipeline at a function server of your own. Likewise the example model server
// (examples/model/server.mjs) on 127.0.0.1:9092 (EDGESERVE_MODEL_PORT; EDGESERVE_MODEL_DELAY_MS sets
// its pace), unless EDGESERVE_MODEL_URL points the `chat` pipeline at an OpenAI-compatible server of
// your own. It asks for no key; the key `chat` sends to a server of your own is the
// EDGESERVE_MODEL_API_KEY secret, which goes in `.dev.vars` like every secret (never on the command line).
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { watch } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { manifestsDir } from "./manifest-tool.mjs";

const require = createRequire(import.meta.url);
const wrangler = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");

/** Settings this script sets itself (the example servers' URLs): passed on, but not reported as the user's overrides. */
const ownSettings = new Set();

/**
 * Starts an example server on its port unless the user's `urlVar` points elsewhere; on its way it
 * sets `urlVar`, which the Worker reads (passed on below, but not reported as the user's override).
 */
async function startExample({ what, urlVar, portVar, defaultPort, ownServer, start }) {
  if (process.env[urlVar]) return;
  const port = Number(process.env[portVar] ?? defaultPort);
  try {
    await start(port);
  } catch (error) {
    console.error(`[edgeserve] the example ${what} could not listen on 127.0.0.1:${port}: ${error.message}`);
    console.error(`[edgeserve] set ${portVar} to another port, or ${urlVar} to ${ownServer} of your own`);
    process.exit(1);
  }
  process.env[urlVar] = `http://127.0.0.1:${port}`;
  ownSettings.add(urlVar);
  console.log(`[edgeserve] example ${what} on ${process.env[urlVar]}`);
}

await startExample({
  what: "StateFun functions",
  urlVar: "EDGESERVE_FUNCTIONS_URL",
  portVar: "EDGESERVE_FUNCTIONS_PORT",
  defaultPort: 9090,
  ownServer: "a function server",
  start: async (port) => (await import("../examples/functions/server.mjs")).startFunctionServer({ port }),
});
await startExample({
  what: "model server",
  urlVar: "EDGESERVE_MODEL_URL",
  portVar: "EDGESERVE_MODEL_PORT",
  defaultPort: 9092,
  ownServer: "an OpenAI-compatible server",
  start: async (port) => (await import("../examples/model/server.mjs")).startModelServer({ port, log: console.log }),
});

// A secret in the environment is not passed on (it would show in the process list); say so, or a
// server meant to require tokens would run open without a word.
for (const secret of ["EDGESERVE_AUTH_TOKENS", "EDGESERVE_MODEL_API_KEY"]) {
  if (process.env[secret] !== undefined) {
    console.warn(`[edgeserve] ${secret} is set in the environment and is NOT used: secrets go in .dev.vars (see README "Auth")`);
  }
}

const overrides = Object.entries(process.env)
  .filter(
    ([name]) =>
      name.startsWith("EDGESERVE_") &&
      ![
        // Secrets: `.dev.vars`, never on wrangler's command line.
        "EDGESERVE_AUTH_TOKENS",
        "EDGESERVE_MODEL_API_KEY",
        // This script's own settings, not the Worker's.
        "EDGESERVE_FUNCTIONS_PORT",
        "EDGESERVE_MODEL_PORT",
        "EDGESERVE_MODEL_DELAY_MS",
        "EDGESERVE_MANIFESTS_DIR",
        "EDGESERVE_REGISTRY",
      ].includes(name),
  )
  .flatMap(([name, value]) => ["--var", `${name}:${value}`]);
for (let i = 1; i < overrides.length; i += 2) {
  const name = overrides[i].split(":")[0];
  if (!ownSettings.has(name)) console.log(`[edgeserve] override ${name}`);
}

const apiOnly = process.argv.includes("--api-only");
const extra = process.argv.slice(2).filter((arg) => arg !== "--api-only");

// wrangler dev does not apply D1 migrations itself; apply them to the same local state first.
const persistAt = extra.indexOf("--persist-to");
const persistArgs = persistAt >= 0 ? ["--persist-to", extra[persistAt + 1]] : [];
const configAt = extra.indexOf("--config");
if (apiOnly && configAt >= 0) {
  console.error("[edgeserve] --api-only picks its own config: leave out --config");
  process.exit(1);
}
if (configAt < 0) {
  // The manifests are bundled into the Worker: build them first, and again whenever one changes
  // (wrangler then reloads the Worker, since the bundle changed).
  const buildManifests = () => spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), "build-manifests.mjs")], { stdio: "inherit" });
  if (buildManifests().status !== 0) process.exit(1);
  const buildConsole = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), "build-console.mjs")], { stdio: "inherit" });
  if (buildConsole.status !== 0) process.exit(1);
  const buildDocs = spawnSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), "build-docs-assets.mjs")], { stdio: "inherit" });
  if (buildDocs.status !== 0) process.exit(1);
  let pending;
  watch(manifestsDir(), (_, file) => {
    if (!file || !/\.(ya?ml|ts)$/.test(String(file))) return;
    clearTimeout(pending);
    pending = setTimeout(buildManifests, 200);
  });
  const migrate = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", ...persistArgs], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, CI: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  });
  if (migrate.status !== 0) {
    console.error(String(migrate.stdout));
    console.error("[edgeserve] applying the D1 migrations failed");
    process.exit(migrate.status ?? 1);
  }
  console.log("[edgeserve] D1 migrations applied");
}
if (apiOnly) extra.push("--config", (await import("./api-only-config.mjs")).writeApiOnlyConfig());
const defaults = extra.includes("--port") ? ["--ip", "127.0.0.1"] : ["--ip", "127.0.0.1", "--port", "8787"];
const args = [wrangler, "dev", ...defaults, ...overrides, ...extra];
// Offline by design: skip miniflare's download of a real `Request.cf` object (it would only print
// an error on a machine without internet and fall back to a placeholder anyway).
const env = { CLOUDFLARE_CF_FETCH_ENABLED: "false", ...process.env };
const child = spawn(process.execPath, args, { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
// Another Worker (`--config`, e.g. the benchmark's baseline) has no console.
if (configAt < 0) announceWhenReady(serverUrl([...defaults, ...extra]));

/** The URL wrangler serves on, from the last `--ip` and `--port` given (`--port=N` too). */
function serverUrl(argv) {
  const value = (name) => {
    let found;
    argv.forEach((arg, i) => {
      if (arg === name) found = argv[i + 1];
      else if (arg.startsWith(`${name}=`)) found = arg.slice(name.length + 1);
    });
    return found;
  };
  const ip = value("--ip") ?? "127.0.0.1";
  const host = ip === "0.0.0.0" || ip === "::" ? "localhost" : ip.includes(":") ? `[${ip}]` : ip;
  return `http://${host}:${value("--port") ?? "8787"}`;
}

/**
 * Prints the console's URL once the server answers. It asks `/health`, which is open even with
 * tokens configured, so the start-up log shows `GET /health 200`, not a refused probe.
 */
async function announceWhenReady(url) {
  const deadline = Date.now() + 120_000;
  while (child.exitCode === null && Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/health`);
      await res.body?.cancel();
      if (apiOnly) {
        console.log(`[edgeserve] API only (no console, no /docs): ${url}`);
      } else {
        console.log(`[edgeserve] console:       ${url}/`);
        console.log(`[edgeserve] API reference: ${url}/docs`);
      }
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
