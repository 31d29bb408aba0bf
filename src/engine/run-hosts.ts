/**
 * Where a pipeline's runs live (its manifest's `runHost`): on the object host, a Durable Object
 * per run (durable-objects/run/run-object.ts); on the journal host, rows in one of the pipeline's
 * shard objects (durable-objects/shard/run-shard.ts), chosen by a hash of the run id
 * (shard-name.ts), so any run is found from its id alone.
 */
import { findPipeline } from "../catalog";
import type { RunHostKind } from "../pipeline/definition";

/** Shards of a journal pipeline that does not say: 16 objects take ~16 × 500 writing calls/s. */
export const DEFAULT_SHARDS = 16;

export type RunHostOf = { kind: "object" } | { kind: "journal"; shards: number };

/** The host of a pipeline's runs; an unknown pipeline's (a run of a pipeline since removed) is the default. */
export function runHostOf(pipeline: string): RunHostOf {
  const definition = findPipeline(pipeline)?.definition;
  const kind: RunHostKind = definition?.runHost ?? "object";
  return kind === "journal" ? { kind, shards: definition?.shards ?? DEFAULT_SHARDS } : { kind };
}
