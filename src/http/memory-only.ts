/**
 * Serving memory-only pipelines: their runs live only inside the request that made them, so only
 * the sync calls work; anything that would need the run later answers 409 `memory_only`.
 */
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";
import { runInMemory, type MemoryOutcome, type MemoryRunContext } from "../pipeline/memory-executor";
import { forwardedHeaders, type StripList } from "./forwarded-headers";
import type { Pipeline } from "../pipeline/graph";
import { loadMessage, valueContentType, valueToBytes, type StoredMessage } from "../pipeline/message";
import type { ResultItem } from "../runs/protocol";

export function isMemoryOnly(pipeline: Pipeline): boolean {
  return pipeline.definition.runtime === "memory-only";
}

/** Rejects a route that needs a stored run when the pipeline is memory-only. */
export const requiresStoredRuns = createMiddleware<AppEnv>(async function requiresStoredRuns(c, next) {
  if (isMemoryOnly(c.get("pipeline"))) {
    throw new ApiError(
      "memory_only",
      `pipeline '${c.get("pipeline").name}' runs memory-only: its runs are not stored, so only sync calls are served (no async, fetch, status, jobs or streams)`,
    );
  }
  await next();
});

/** Runs the pipeline right here; `headers` are the request's, stripped (only if a step reads them). */
export function runMemoryOnly(
  pipeline: Pipeline,
  input: StoredMessage,
  context: Omit<MemoryRunContext, "headers"> & { headers: Headers; strip: StripList },
): Promise<MemoryOutcome> {
  const { headers, strip, ...rest } = context;
  return runInMemory(pipeline, loadMessage(input), { ...rest, headers: () => forwardedHeaders(headers, strip) });
}

export function memoryResults(outcome: Extract<MemoryOutcome, { status: "completed" }>): ResultItem[] {
  return outcome.results.map((m) => ({ bytes: valueToBytes(m.value), contentType: valueContentType(m.value) }));
}
