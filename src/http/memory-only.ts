/**
 * Serving memory-only pipelines: their runs live only inside the request that made them, so only
 * the sync calls work; anything that would need the run later answers 409 `memory_only`.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";
import { runInMemory, type MemoryOutcome } from "../pipeline/memory-executor";
import { forwardedHeaders } from "./forwarded-headers";
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

/**
 * Runs the request's pipeline right here, as run `runId` with `timeoutMs`; its steps see the
 * request's headers, stripped (worked out only if a step reads them), with the run's id in
 * `idHeader` when given, and the deployment's limits.
 */
export function runMemoryOnly(c: Context<AppEnv>, input: StoredMessage, run: { runId: string; timeoutMs: number; idHeader?: string }): Promise<MemoryOutcome> {
  const settings = c.get("settings");
  const headers = c.req.raw.headers;
  const { idHeader, ...limits } = run;
  return runInMemory(c.get("pipeline"), loadMessage(input), {
    ...limits,
    headers: () => forwardedHeaders(headers, settings.EDGESERVE_STRIP_HEADERS, idHeader !== undefined ? { name: idHeader, runId: run.runId } : undefined),
    maxFanout: settings.EDGESERVE_MAX_FANOUT,
    env: c.env as unknown as Readonly<Record<string, unknown>>,
  });
}

export function memoryResults(outcome: Extract<MemoryOutcome, { status: "completed" }>): ResultItem[] {
  return outcome.results.map((m) => ({ bytes: valueToBytes(m.value), contentType: valueContentType(m.value) }));
}
