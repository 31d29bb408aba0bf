// Starts `npm run dev`'s server (scripts/dev.mjs → wrangler dev) on a free loopback port and waits
// until it answers. Used by the end-to-end tests and the benchmark; the caller stops it.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const READY_TIMEOUT_MS = 90_000;

/** A port the kernel says is free right now on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * @param {{ env?: Record<string, string>, args?: string[], config?: string, apiOnly?: boolean, port?: number, persistDir?: string, log?: (line: string) => void }} options
 *   env: EDGESERVE_* overrides; args: extra wrangler args; config: another wrangler config (bench baselines);
 *   apiOnly: the API-only deployment (no static assets, so no console);
 *   port and persistDir: those of a server stopped before, to start it again with its state (a restart).
 *   A persistDir given is the caller's: stop() keeps it.
 * @returns {Promise<{ url: string, port: number, persistDir: string, stop: () => Promise<void> }>}
 */
export async function startDevServer(options = {}) {
  const port = options.port ?? (await freePort());
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), "edgeserve-dev-"));
  const devScript = fileURLToPath(new URL("./dev.mjs", import.meta.url));
  const args = [devScript, "--port", String(port), "--persist-to", persistDir, "--log-level", "warn"];
  if (options.config) args.push("--config", options.config);
  if (options.apiOnly) args.push("--api-only");
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, {
    cwd: fileURLToPath(new URL("..", import.meta.url)),
    // The example function and model servers get free ports too, so servers can run side by side.
    env: {
      ...process.env,
      EDGESERVE_FUNCTIONS_PORT: String(await freePort()),
      EDGESERVE_MODEL_PORT: String(await freePort()),
      ...(options.env ?? {}),
      WRANGLER_SEND_METRICS: "false",
      CI: "true",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk) => {
    output += chunk;
    if (options.log) for (const line of String(chunk).split("\n")) if (line.trim()) options.log(line);
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = new Promise((resolve) => child.once("exit", resolve));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}:\n${output}`);
    try {
      const res = await fetch(`${url}/livez`);
      // 401: up, with tokens configured (the probes need one then).
      if (res.status === 204 || res.status === 401) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`wrangler dev did not become ready in ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  return {
    url,
    port,
    persistDir,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      if (!options.persistDir) rmSync(persistDir, { recursive: true, force: true });
    },
  };
}
