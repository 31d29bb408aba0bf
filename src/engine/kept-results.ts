/** A completed run's results, or 410 `result_not_kept` when its capture policy let them go after its sync answer. */
import { ApiError } from "../errors/api-error";
import type { ResultItem, RunSnapshot } from "../runs/protocol";

export function keptResults(snapshot: RunSnapshot): readonly ResultItem[] {
  if (snapshot.results) return snapshot.results;
  if (snapshot.payloadsDropped) {
    throw new ApiError(
      "result_not_kept",
      `run ${snapshot.id} completed, but its results were not kept once its sync answer was sent (capture mode '${snapshot.capture.mode}' keeps no payloads)`,
    );
  }
  return [];
}
