/**
 * The request id (the run id): taken from the configured id header (Numaflow's `msgIDHeaderKey`,
 * default `X-Numaflow-Id`) or generated as a UUIDv7. Numaflow rejects a literal `X-Numaflow-Id`
 * containing `.` with 400 (plain text) before auth runs; edgeserve does the same, and
 * also refuses `~`, which only native run ids carry (src/runs/run-id.ts).
 */
import { createMiddleware } from "hono/factory";
import { v7 as uuidv7 } from "uuid";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";
import { RUN_ID_MAX_LENGTH, surfaceRunIdProblem } from "../runs/run-id";

export const requestId = createMiddleware<AppEnv>(async function requestId(c, next) {
  const numaflowId = c.req.header("x-numaflow-id");
  if (numaflowId?.includes(".")) {
    throw new ApiError("invalid_run_id", `Header-ID should not contain '.', found ${numaflowId}`, { plainText: true });
  }
  const given = c.req.header(c.get("settings").EDGESERVE_ID_HEADER);
  if (given !== undefined) {
    const problem = surfaceRunIdProblem(given);
    if (problem) throw new ApiError("invalid_run_id", `${c.get("settings").EDGESERVE_ID_HEADER} ${problem}`);
    c.set("runId", given);
    c.set("runIdGiven", true);
  } else {
    c.set("runId", uuidv7());
    c.set("runIdGiven", false);
  }
  await next();
});

export { RUN_ID_MAX_LENGTH };
