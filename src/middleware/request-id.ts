/**
 * The request id (the run id): taken from the configured id header (Numaflow's `msgIDHeaderKey`,
 * default `X-Numaflow-Id`) or generated as a UUIDv7. Numaflow rejects a literal `X-Numaflow-Id`
 * containing `.` with 400 (plain text) before auth runs; edgeserve does the same. Its own rules for
 * ids (visible ASCII, at most 128 characters, no `~`, which only native run ids carry:
 * src/runs/run-id.ts) are checked by `givenRequestId`, after auth (a caller without a token
 * learns nothing of them) and only on the routes where the header names the run.
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
  c.set("runId", given ?? uuidv7());
  c.set("runIdGiven", given !== undefined);
  await next();
});

/** The id header, where it names the run (sync, async, SSE): 400 `invalid_run_id` unless edgeserve's id rules allow it. */
export const givenRequestId = createMiddleware<AppEnv>(async function givenRequestId(c, next) {
  const problem = c.get("runIdGiven") ? surfaceRunIdProblem(c.get("runId")) : undefined;
  if (problem) throw new ApiError("invalid_run_id", `${c.get("settings").EDGESERVE_ID_HEADER} ${problem}`);
  await next();
});

export { RUN_ID_MAX_LENGTH };
