/**
 * The deployed pipelines, compiled once per isolate. Both the Worker (validation, routing) and the
 * Run objects (execution) look pipelines up here, so they always agree on a definition.
 */
import { examplePipelines } from "../examples/pipelines/index";
import { compilePipeline, type Pipeline } from "./pipeline/graph";

const pipelines = new Map<string, Pipeline>();
for (const definition of examplePipelines) {
  const pipeline = compilePipeline(definition);
  pipelines.set(pipeline.name, pipeline);
}

export function findPipeline(name: string): Pipeline | undefined {
  return pipelines.get(name);
}

export function listPipelines(): Pipeline[] {
  return [...pipelines.values()];
}
