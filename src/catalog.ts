/**
 * The deployed pipelines, compiled once per isolate from the manifests `npm run build` bundled
 * (src/generated/manifests.ts). Both the Worker (validation, routing) and the Run objects
 * (execution) look pipelines up here, so they always agree on a definition.
 */
import { manifests, registry } from "./generated/manifests";
import { compileManifest, formatPath } from "./manifest/compile";
import type { PipelineDefinition } from "./pipeline/definition";
import { compilePipeline, PipelineDefinitionError, type Pipeline } from "./pipeline/graph";

const pipelines = new Map<string, Pipeline>();
for (const { file, manifest } of manifests) {
  const compiled = compileManifest(manifest, registry);
  if (!compiled.ok) {
    // The build checked every manifest; this means the bundle is stale (run `npm run build`).
    const issue = compiled.issues[0];
    throw new PipelineDefinitionError(`${file}: ${issue ? `${formatPath(issue.path)}: ${issue.message}` : "invalid"}`);
  }
  pipelines.set(compiled.pipeline.name, compiled.pipeline);
}

/**
 * Adds a pipeline to this isolate's catalog (the test suite adds pipelines that fail on purpose).
 * Throws `PipelineDefinitionError` if the definition is invalid or the name is taken.
 */
export function registerPipeline(definition: PipelineDefinition): Pipeline {
  const pipeline = compilePipeline(definition);
  if (pipelines.has(pipeline.name)) throw new PipelineDefinitionError(`pipeline '${pipeline.name}' is already registered`);
  pipelines.set(pipeline.name, pipeline);
  return pipeline;
}

export function findPipeline(name: string): Pipeline | undefined {
  return pipelines.get(name);
}

export function listPipelines(): Pipeline[] {
  return [...pipelines.values()];
}
