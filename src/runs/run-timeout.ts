/** A run's own deadline: the request's choice, else the pipeline's, else the deployment default. */
import type { Pipeline } from "../pipeline/graph";
import type { Settings } from "../settings";

export function runTimeoutSeconds(pipeline: Pipeline, settings: Settings, requested?: number): number {
  return requested ?? pipeline.definition.runTimeoutSeconds ?? settings.EDGESERVE_RUN_TIMEOUT_SECONDS;
}
