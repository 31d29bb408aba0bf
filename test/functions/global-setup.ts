// Starts the StateFun function server of the workerd tests (test/functions/server.mjs) on the port
// vitest.config.ts chose and gave the Worker as EDGESERVE_FUNCTIONS_URL. Runs in Node.
import { startTestFunctionServer } from "./server.mjs";

export default async function setup(): Promise<() => Promise<void>> {
  const port = Number(process.env.EDGESERVE_TEST_FUNCTIONS_PORT);
  if (!Number.isInteger(port) || port <= 0) throw new Error("vitest.config.ts must set EDGESERVE_TEST_FUNCTIONS_PORT");
  const server = await startTestFunctionServer(port);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
