/** The 404 for a run that is not there: `run_expired` when its retention ended, else the surface's own not-found. */
import { ApiError } from "../errors/api-error";
import type { RunMissing } from "../runs/protocol";

export function missingRun(runId: string, outcome: RunMissing, notFound: () => ApiError): ApiError {
  if (!outcome.expired) return notFound();
  const at = new Date(outcome.expired.at).toISOString();
  return new ApiError("run_expired", `run ${runId} expired at ${at}: its retention ended and its results were deleted`);
}
