/**
 * edgeserve's own API (resource style). For now: the deployed pipelines; a run's record by pipeline
 * and id, with its per-step states, timings and the SQLite rows it wrote; and cancelling a run.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../app-env";
import { ApiError } from "../errors/api-error";
import { missingRun } from "../http/missing-run";
import { bearerAuth } from "../middleware/auth";
import { listPipelines } from "../catalog";
import { resolvePipeline } from "../middleware/pipeline";
import type { RunSnapshot } from "../runs/protocol";
import { resultAsJson } from "../runs/result-json";
import { RunClient } from "../runs/run-client";
import { runIdProblem } from "../runs/run-id";

export function nativeRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Only edgeserve's own paths: `/v1/process/*` belongs to the Numaflow surface.
  app.use("/v1/pipelines/*", async function nativeSurface(c, next) {
    c.set("surface", "native");
    await next();
  }, bearerAuth);
  app.use("/v1/pipelines", async function nativeSurface(c, next) {
    c.set("surface", "native");
    await next();
  }, bearerAuth);
  app.get("/v1/pipelines", (c) =>
    c.json({
      pipelines: listPipelines().map((p) => ({
        name: p.name,
        version: p.definition.version,
        description: p.definition.description,
        default: p.name === c.var.settings.EDGESERVE_DEFAULT_PIPELINE,
        runtime: p.definition.runtime ?? c.var.settings.EDGESERVE_CAPTURE_RUNTIME,
        result_store: p.definition.resultStore,
        retention_seconds: p.definition.retentionSeconds ?? c.var.settings.EDGESERVE_RETENTION_SECONDS,
        steps: p.order.map((name) => ({ name, kind: p.step(name).kind })),
      })),
    }),
  );
  app.get("/v1/pipelines/:pipeline/runs/:id", resolvePipeline, async (c) => {
    const outcome = await runClient(c).describe();
    if (!outcome.found) throw missingRun(c.req.param("id") ?? "", outcome, () => runNotFound(c));
    return c.json(runRecord(outcome.snapshot));
  });
  // Stops the run between steps: steps still running are told through their signal, and the
  // outputs they report later (a queued step's consumer, say) are ignored.
  app.post("/v1/pipelines/:pipeline/runs/:id/cancel", resolvePipeline, async (c) => {
    const reason = (c.req.query("reason") ?? "cancelled by request").slice(0, 1000);
    const outcome = await runClient(c).cancel(reason);
    if (!outcome.found) throw missingRun(c.req.param("id") ?? "", outcome, () => runNotFound(c));
    if (!outcome.cancelled) {
      throw new ApiError("run_finished", `run ${outcome.snapshot.id} has already ended (${outcome.snapshot.status})`);
    }
    return c.json(runRecord(outcome.snapshot));
  });
  return app;
}

function runClient(c: Context<AppEnv>): RunClient {
  const id = c.req.param("id") ?? "";
  const problem = runIdProblem(id);
  if (problem) throw new ApiError("invalid_run_id", `run id ${problem}`);
  return new RunClient(c.env.RUNS, c.var.pipeline.name, id);
}

function runNotFound(c: Context<AppEnv>): ApiError {
  return new ApiError("run_not_found", `pipeline '${c.var.pipeline.name}' has no run ${c.req.param("id") ?? ""}`);
}

function runRecord(snapshot: RunSnapshot) {
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: snapshot.id,
    pipeline: snapshot.pipeline,
    status: snapshot.status,
    surface: snapshot.surface,
    created_at: iso(snapshot.createdAt),
    finished_at: iso(snapshot.finishedAt),
    expires_at: iso(snapshot.expiresAt),
    duration_ms: snapshot.finishedAt === undefined ? null : snapshot.finishedAt - snapshot.createdAt,
    error: snapshot.error ?? null,
    steps: snapshot.steps,
    result_count: snapshot.resultCount,
    rows_written: snapshot.rowsWritten,
    capture: snapshot.capture,
    results: snapshot.results?.map(resultAsJson) ?? null,
  };
}
