/**
 * The Numaflow ServingPipeline surface (reference/numaflow-serving.md): `/v1/process/sync`,
 * `/async`, `/fetch`, `/status` (alias `/message`) and `/sse`, with raw bytes in and out.
 * Mounted at the root for the default pipeline and under `/pipelines/<name>` for every pipeline.
 */
import { Hono, type Context } from "hono";
import type { AppEnv } from "../../app-env";
import { captureRequest } from "../../capture/capture-request";
import { ApiError } from "../../errors/api-error";
import { missingRun } from "../../http/missing-run";
import { numaflowTimestamp } from "../../errors/error-response";
import { isMemoryOnly, memoryResults, requiresStoredRuns, runMemoryOnly } from "../../http/memory-only";
import { methodNotAllowed } from "../../http/method-not-allowed";
import { forwardedHeaders, parsePipelineInput } from "../../http/pipeline-input";
import { bearerAuth } from "../../middleware/auth";
import { requestBodyLimit } from "../../middleware/body-limit";
import { resolvePipeline } from "../../middleware/pipeline";
import { requestId } from "../../middleware/request-id";
import { admitRun, releaseIfNotStarted } from "../../http/admit-run";
import { isActive, type ResultItem, type RunSnapshot, type StartRunRequest } from "../../runs/protocol";
import { RunClient } from "../../engine/run-client";
import { runIdProblem } from "../../runs/run-id";

type NumaflowContext = Context<AppEnv>;

export function numaflowRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/v1/process/*", async function numaflowSurface(c, next) {
    c.set("surface", "numaflow");
    await next();
  });
  // Numaflow's order: id extraction and the dot check come before auth, so a bad id is 400, not 401.
  app.use("/v1/process/*", requestId, bearerAuth, resolvePipeline, requestBodyLimit);

  app.post("/v1/process/sync", sync).all("/v1/process/sync", methodNotAllowed(["POST"]));
  app.post("/v1/process/async", requiresStoredRuns, startAsync).all("/v1/process/async", methodNotAllowed(["POST"]));
  app.get("/v1/process/fetch", requiresStoredRuns, fetchResult).all("/v1/process/fetch", methodNotAllowed(["GET"]));
  for (const path of ["/v1/process/status", "/v1/process/message"]) {
    app.get(path, requiresStoredRuns, messagePath).all(path, methodNotAllowed(["GET"]));
  }
  app.on(["GET", "POST"], "/v1/process/sse", requiresStoredRuns, sse).all("/v1/process/sse", methodNotAllowed(["GET", "POST"]));
  return app;
}

async function sync(c: NumaflowContext): Promise<Response> {
  if (isMemoryOnly(c.var.pipeline)) return syncInMemory(c);
  const run = runClient(c);
  const request = await admitRun(c.env, c.var.settings, c.var.pipeline, await startRequest(c), "sync");
  const timeoutMs = requestTimeoutMs(c);
  const outcome = await run.startAndWait(request, timeoutMs);
  if (!("snapshot" in outcome)) {
    await releaseIfNotStarted(c.env, run, request, outcome);
    throw duplicateId(run.runId);
  }
  const { snapshot } = outcome;
  const idHeader = { [c.var.settings.EDGESERVE_ID_HEADER]: run.runId };
  if (isActive(snapshot.status)) {
    // Numaflow answers 408 with no body; edgeserve adds the id so the caller can fetch later.
    throw new ApiError("request_timeout", `run ${run.runId} is still running`, { headers: idHeader });
  }
  return resultsResponse(snapshot, idHeader);
}

/** A memory-only pipeline runs right here; nothing of the run outlives the response. */
async function syncInMemory(c: NumaflowContext): Promise<Response> {
  const input = parsePipelineInput(c.var.pipeline, await c.req.arrayBuffer());
  const idHeader = { [c.var.settings.EDGESERVE_ID_HEADER]: c.var.runId };
  const outcome = await runMemoryOnly(c.var.pipeline, input, {
    runId: c.var.runId,
    headers: forwardedHeaders(c.req.raw.headers),
    timeoutMs: requestTimeoutMs(c),
  });
  if (outcome.status === "timeout") {
    throw new ApiError("request_timeout", `memory-only run ${c.var.runId} did not finish in time`, { headers: idHeader });
  }
  if (outcome.status === "failed") throw new ApiError("run_failed", `run ${c.var.runId} failed: ${outcome.message}`);
  return concatenatedResults(memoryResults(outcome), idHeader);
}

async function startAsync(c: NumaflowContext): Promise<Response> {
  const run = runClient(c);
  const request = await admitRun(c.env, c.var.settings, c.var.pipeline, await startRequest(c), "async");
  const outcome = await run.start(request);
  if (!outcome.started) {
    await releaseIfNotStarted(c.env, run, request, outcome);
    throw duplicateId(run.runId);
  }
  return c.json(
    { message: "Successfully published message", id: run.runId, code: 200, timestamp: numaflowTimestamp() },
    200,
    { [c.var.settings.EDGESERVE_ID_HEADER]: run.runId },
  );
}

async function fetchResult(c: NumaflowContext): Promise<Response> {
  const run = runClient(c, queryId(c));
  const outcome = await run.describe();
  if (!outcome.found) throw missingRun(run.runId, outcome, () => runNotFound(run.runId));
  if (isActive(outcome.snapshot.status)) return c.json({ status: "in-progress" });
  return resultsResponse(outcome.snapshot, {});
}

async function messagePath(c: NumaflowContext): Promise<Response> {
  const run = runClient(c, queryId(c));
  const path = await run.messagePath();
  if (!path.found) throw missingRun(run.runId, path, () => runNotFound(run.runId));
  if (isActive(path.status)) return c.text("Request In Progress");
  return c.text(JSON.stringify({ id: run.runId, edge_callbacks: path.edges }));
}

/**
 * Starts a run from the body and streams its results; with no body and the id of an existing run
 * (id header or `?id=`), subscribes to that run instead. `Last-Event-ID` resumes either, and turns
 * a re-sent start request for an existing id into a resume (that is how SSE clients reconnect).
 */
async function sse(c: NumaflowContext): Promise<Response> {
  const body = await c.req.arrayBuffer();
  const queried = c.req.query("id");
  const lastEventId = c.req.header("last-event-id") ?? null;
  const subscribeTo = body.byteLength === 0 ? (c.var.runIdGiven ? c.var.runId : queried) : undefined;
  let run: RunClient;
  if (subscribeTo !== undefined) {
    run = runClient(c, validId(subscribeTo));
    const existing = await run.describe();
    if (!existing.found) {
      throw new ApiError("run_not_found", `no run with id ${run.runId}; send a body to start one`);
    }
  } else if (lastEventId !== null && c.var.runIdGiven && (await runClient(c).describe()).found) {
    // An SSE client reconnecting re-sends the original request, body and all, with Last-Event-ID:
    // that is a resume of the run it started, not a duplicate.
    run = runClient(c);
  } else {
    run = runClient(c);
    const input = parsePipelineInput(c.var.pipeline, body);
    const request = await admitRun(c.env, c.var.settings, c.var.pipeline, await startRequestFrom(c, input), "sync");
    const outcome = await run.start(request);
    if (!outcome.started) {
      await releaseIfNotStarted(c.env, run, request, outcome);
      throw duplicateId(run.runId);
    }
  }
  const stream = await run.events("numaflow", lastEventId);
  if (stream.status === 404) throw runNotFound(run.runId);
  const response = new Response(stream.body, stream);
  response.headers.set(c.var.settings.EDGESERVE_ID_HEADER, run.runId);
  return response;
}

function runClient(c: NumaflowContext, runId = c.var.runId): RunClient {
  return new RunClient(c.env.RUNS, c.var.pipeline.name, runId);
}

async function startRequest(c: NumaflowContext): Promise<StartRunRequest> {
  return startRequestFrom(c, parsePipelineInput(c.var.pipeline, await c.req.arrayBuffer()));
}

async function startRequestFrom(c: NumaflowContext, input: StartRunRequest["input"]): Promise<StartRunRequest> {
  return {
    runId: c.var.runId,
    pipeline: c.var.pipeline.name,
    input,
    headers: forwardedHeaders(c.req.raw.headers),
    surface: "numaflow",
    capture: await captureRequest(c.var.settings, c.var.pipeline, c.var.runId),
  };
}

function requestTimeoutMs(c: NumaflowContext): number {
  const seconds = c.var.pipeline.definition.requestTimeoutSeconds ?? c.var.settings.EDGESERVE_REQUEST_TIMEOUT_SECONDS;
  return seconds * 1000;
}

function queryId(c: NumaflowContext): string {
  const id = c.req.query("id");
  if (id === undefined) throw new ApiError("bad_request", "the query parameter 'id' is required");
  return validId(id);
}

function validId(id: string): string {
  const problem = runIdProblem(id);
  if (problem) throw new ApiError("invalid_run_id", `id ${problem}`);
  return id;
}

/** Several results are concatenated; `Numaflow-Array-*` headers say where each one ends. */
function resultsResponse(snapshot: RunSnapshot, extraHeaders: Record<string, string>): Response {
  if (snapshot.status !== "completed") {
    const reason = snapshot.error?.message ?? `run ended ${snapshot.status}`;
    throw new ApiError("run_failed", `run ${snapshot.id} ${snapshot.status}: ${reason}`);
  }
  return concatenatedResults(snapshot.results ?? [], extraHeaders);
}

function concatenatedResults(results: readonly ResultItem[], extraHeaders: Record<string, string>): Response {
  const size = results.reduce((total, r) => total + r.bytes.byteLength, 0);
  const body = new Uint8Array(size);
  let offset = 0;
  for (const result of results) {
    body.set(result.bytes, offset);
    offset += result.bytes.byteLength;
  }
  return new Response(body, {
    status: 200,
    headers: {
      ...extraHeaders,
      "content-type": "application/octet-stream",
      "numaflow-array-len": String(results.length),
      "numaflow-array-index-len": results.map((r) => r.bytes.byteLength).join(","),
    },
  });
}

function duplicateId(runId: string): ApiError {
  return new ApiError("run_id_in_use", `Specified request id ${runId} already exists in the store`);
}

function runNotFound(runId: string): ApiError {
  return new ApiError("run_not_found", `no run with id ${runId} (it never existed, or its retention has expired)`);
}
