/**
 * Run ids are per pipeline: one id may name runs of several pipelines, and a run looked up under
 * another pipeline is simply not there. When a lookup scoped to a pipeline ends in `run_not_found`,
 * and only then, the run index is asked (one D1 read, by id) whether a run with this id exists in
 * another pipeline; if so the 404 says which, so that the caller sees the mix-up at once.
 */
import { ApiError } from "../errors/api-error";
import type { RunClient } from "./run-client";
import { otherPipelineOfRun } from "./run-index";

/** Runs `lookup` for `run`; its `run_not_found`, if any, names the pipeline that has a run with this id. */
export async function explainingOtherPipeline<T>(db: D1Database, run: RunClient, lookup: () => Promise<T>): Promise<T> {
  try {
    return await lookup();
  } catch (error) {
    throw await withOtherPipeline(db, run, error);
  }
}

async function withOtherPipeline(db: D1Database, run: RunClient, error: unknown): Promise<unknown> {
  if (!(error instanceof ApiError) || error.code !== "run_not_found") return error;
  let other: string | undefined;
  try {
    other = await otherPipelineOfRun(db, run.runId, run.pipeline);
  } catch (indexError) {
    // The hint is a courtesy: the 404 stands without it.
    console.error(`edgeserve: the run index could not say where run ${run.runId} is: ${String(indexError)}`);
    return error;
  }
  if (other === undefined) return error;
  return new ApiError(
    "run_not_found",
    `${error.message}; a run with this id exists in pipeline '${other}', not in '${run.pipeline}' — run ids are per pipeline`,
    { headers: error.headers, ...(error.details ? { details: error.details } : {}) },
  );
}
