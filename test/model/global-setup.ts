// Starts the example model server (examples/model/server.mjs) for the workerd tests on the port
// vitest.config.ts chose and gave the Worker as EDGESERVE_MODEL_URL. Runs in Node. Tests reach it
// over loopback: its replies, its fault directives (`!drop=1 …`) and its counters (GET /_open).
import { startModelServer } from "../../examples/model/server.mjs";

export default async function setup(): Promise<() => Promise<void>> {
  const port = Number(process.env.EDGESERVE_TEST_MODEL_PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error("vitest.config.ts must set EDGESERVE_TEST_MODEL_PORT");
  const server = await startModelServer({ port });
  return () => server.stop();
}
