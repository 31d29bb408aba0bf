/** ZenML's `steps_executed`: step invocations that completed, not counting deliveries to sinks. */
import type { Pipeline } from "../pipeline/graph";
import type { StepState } from "./protocol";

export function countStepsExecuted(pipeline: Pipeline | undefined, steps: Record<string, StepState>): number {
  return Object.entries(steps)
    .filter(([name]) => pipeline?.processingSteps.includes(name) ?? true)
    .reduce((total, [, state]) => total + state.completed, 0);
}
