#!/usr/bin/env node
// A StateFun function server (Node, `apache-flink-statefun`): serves the example functions over
// HTTP, as a StateFun deployment would. `npm run dev` starts it on 127.0.0.1:9090 unless
// EDGESERVE_FUNCTIONS_URL points the pipelines elsewhere. `node examples/functions/server.mjs
// --port 9091` starts one by hand. It prints "listening on <url>" once it accepts requests.
import { createServer } from "node:http";
import { fileURLToPath } from "node:url";
import { StateFun } from "apache-flink-statefun";
import { bindGreeter } from "./greeter.mjs";

/**
 * Starts a function server with the functions `bind` adds (the greeter by default). The SDK's
 * handler answers 500 with an empty body to any error and logs nothing, so errors are logged here.
 * `wrap` may put something in front of the SDK's handler (the tests inject faults that way).
 * @param {{ port?: number, bind?: (statefun: StateFun) => void, wrap?: (handle: Function) => Function }} options
 */
export function startFunctionServer({ port = 9090, bind = bindGreeter, wrap = (handle) => handle } = {}) {
  const statefun = new StateFun();
  bind(statefun);
  const handle = wrap(statefun.handler());
  const server = createServer((req, res) => {
    Promise.resolve(handle(req, res)).catch((error) => {
      console.error(`[functions] ${req.url}: ${error?.stack ?? error}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--port");
  const port = at >= 0 ? Number(process.argv[at + 1]) : 9090;
  const server = await startFunctionServer({ port });
  console.log(`[functions] listening on http://127.0.0.1:${server.address().port}`);
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
}
