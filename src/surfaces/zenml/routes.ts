/**
 * The ZenML Pipeline Serving surface (reference/zenml-serving.md): `/invoke`, `/jobs`, cancel,
 * `/stream/{id}` (SSE) and `/stream` (WebSocket), `/health`, `/info`, `/status`, `/metrics`,
 * `/concurrency/stats`.
 * Mounted at the root for the default pipeline and under `/pipelines/<name>` for every pipeline,
 * on the same engine and Run objects as the Numaflow surface.
 */
import { Hono, type Context } from "hono";
import { v7 as uuidv7 } from "uuid";
import type { AppEnv } from "../../app-env";
import { ApiError, detailsFromIssues } from "../../errors/api-error";
import { isMemoryOnly, memoryResults, requiresStoredRuns, runMemoryOnly } from "../../http/memory-only";
import { methodNotAllowed } from "../../http/method-not-allowed";
import type { StoredMessage } from "../../pipeline/message";
import { validatePipelineInput } from "../../http/pipeline-input";
import { bearerAuth } from "../../middleware/auth";
import { requestBodyLimit } from "../../middleware/body-limit";
import { resolvePipeline } from "../../middleware/pipeline";
import { assertTicketCovers, mintFor, mountedPipeline, runTicket, socketTicket } from "../../middleware/ticket-auth";
import { SOCKET_TICKET_SECONDS } from "../../auth/stream-tickets";
import { isActive, type RunSnapshot } from "../../runs/protocol";
import { resultsAsJson } from "../../runs/result-json";
import type { RunClient } from "../../engine/run-client";
import type { RunService, StartSpec } from "../../engine/run-service";
import { explainingOtherPipeline } from "../../engine/run-elsewhere";
import { listRuns } from "../../engine/run-index";
import { zenmlTimeoutError } from "./events";
import { deploymentId, JOB_STATUSES, jobFromIndex, jobFromSnapshot, runStatusOf, type JobStatus } from "./jobs";
import { concurrencyStats } from "./concurrency-stats";
import { health, info, metrics, openHealth, status } from "./service";
import { nestsTooDeep, TOO_DEEP_MESSAGE } from "../../http/json-depth";
import { captureOverride, jobsQuerySchema, pipelineRequestSchema, type PipelineRequest } from "./schemas";

type ZenmlContext = Context<AppEnv>;

/** A sync call waits this much past the run's own deadline for the run to report its timeout. */
const SYNC_GRACE_MS = 2_000;

const ZENML_PATHS = ["/invoke", "/jobs", "/jobs/*", "/stream", "/stream/*", "/stream-ticket", "/health", "/info", "/status", "/metrics", "/concurrency/stats"];

export function zenmlRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const path of ZENML_PATHS) {
    app.use(path, async function zenmlSurface(c, next) {
      c.set("surface", "zenml");
      await next();
    });
  }
  app.get("/health", openHealth, resolvePipeline, health).all("/health", methodNotAllowed(["GET"]));
  // Stream tickets, ahead of the bearer check: a run ticket opens GET /stream/{its job id}; a
  // socket ticket opens WS /stream once, for its job id.
  app.use(
    "/stream/:id",
    runTicket((c) => (c.req.method === "GET" ? { pipeline: mountedPipeline(c), runId: c.req.param("id") ?? "" } : null)),
  );
  app.use("/stream", socketTicket);
  for (const path of ZENML_PATHS.filter((p) => p !== "/health")) app.use(path, bearerAuth, resolvePipeline);

  app.post("/invoke", requestBodyLimit, invoke).all("/invoke", methodNotAllowed(["POST"]));
  app.get("/jobs", requiresStoredRuns, listJobs).all("/jobs", methodNotAllowed(["GET"]));
  app.get("/jobs/:id", requiresStoredRuns, getJob).all("/jobs/:id", methodNotAllowed(["GET"]));
  app.post("/jobs/:id/cancel", requiresStoredRuns, cancelJob).all("/jobs/:id/cancel", methodNotAllowed(["POST"]));
  app.get("/stream/:id", requiresStoredRuns, streamJob).all("/stream/:id", methodNotAllowed(["GET"]));
  app.get("/stream", requiresStoredRuns, webSocket).all("/stream", methodNotAllowed(["GET"]));
  app.post("/stream-ticket", requiresStoredRuns, socketTicketFor).all("/stream-ticket", methodNotAllowed(["POST"]));
  app.get("/info", info).all("/info", methodNotAllowed(["GET"]));
  app.get("/status", status).all("/status", methodNotAllowed(["GET"]));
  app.get("/metrics", metrics).all("/metrics", methodNotAllowed(["GET"]));
  app.get("/concurrency/stats", concurrencyStats).all("/concurrency/stats", methodNotAllowed(["GET"]));
  return app;
}

/** A query parameter given more than once counts by its last value, as FastAPI reads it. */
function lastQueryValue(c: ZenmlContext, name: string): string | undefined {
  return c.req.queries(name)?.at(-1);
}

/** The path prefix the request came through (`""` at the root, `/pipelines/<name>` otherwise). */
function mountPrefix(c: ZenmlContext): string {
  const name = c.req.param("pipeline");
  return name === undefined ? "" : `/pipelines/${name}`;
}

async function invoke(c: ZenmlContext): Promise<Response> {
  const request = await parsePipelineRequest(c);
  const pipeline = c.get("pipeline");
  const input = validatePipelineInput(pipeline, request.parameters, { where: ["parameters"] });
  const jobId = uuidv7();
  const isAsync = (lastQueryValue(c, "mode") ?? "sync").toLowerCase() === "async";
  if (isMemoryOnly(pipeline)) {
    if (isAsync) {
      throw new ApiError("memory_only", `pipeline '${pipeline.name}' runs memory-only: its runs are not stored, so /invoke is sync only`);
    }
    return c.json(await invokeInMemory(c, request, input, jobId));
  }
  const spec: StartSpec = {
    pipeline,
    runId: jobId,
    input,
    headers: c.req.raw.headers,
    surface: "zenml",
    runTimeoutSeconds: request.timeout,
    ...(typeof request.run_name === "string" ? { runName: request.run_name } : {}),
    ...(captureOverride(request) ? { captureOverride: captureOverride(request)! } : {}),
  };
  const prefix = mountPrefix(c);
  const urls = { poll_url: `${prefix}/jobs/${jobId}`, stream_url: `${prefix}/stream/${jobId}` };
  const base = { pipeline_name: pipeline.name, parameters_used: request.parameters, job_id: jobId, deployment_id: deploymentId(pipeline) };

  // As in ZenML, a sync call past the concurrency limit waits in the queue while it has room.
  const outcome = await c
    .get("engine")
    .start(spec, isAsync ? { async: true } : { async: false, waitMs: request.timeout * 1000 + SYNC_GRACE_MS, queueWhenFull: true });
  if (!outcome.started) throw new ApiError("run_id_in_use", `job ${jobId} already exists`);
  if (isAsync) {
    return c.json({
      success: true,
      job_id: jobId,
      run_id: null,
      results: null,
      error: null,
      execution_time: null,
      message: "Pipeline execution submitted successfully",
      metadata: { ...base, ...urls, estimated_timeout: request.timeout },
    });
  }
  return c.json(pipelineResponse(outcome.snapshot!, request, { ...base, ...urls }));
}

async function invokeInMemory(c: ZenmlContext, request: PipelineRequest, input: StoredMessage, jobId: string) {
  const pipeline = c.get("pipeline");
  const startedAt = Date.now();
  const outcome = await runMemoryOnly(c, input, { runId: jobId, timeoutMs: request.timeout * 1000 });
  const metadata = {
    pipeline_name: pipeline.name,
    parameters_used: request.parameters,
    job_id: jobId,
    deployment_id: deploymentId(pipeline),
    memory_only: true,
  };
  const executionTime = (Date.now() - startedAt) / 1000;
  if (outcome.status !== "completed") {
    const error = outcome.status === "timeout" ? zenmlTimeoutError(request.timeout) : `Pipeline execution failed: ${outcome.message}`;
    return { success: false, job_id: jobId, run_id: null, results: null, error, execution_time: executionTime, message: null, metadata };
  }
  return {
    success: true,
    job_id: jobId,
    run_id: null,
    results: resultsAsJson(memoryResults(outcome)),
    error: null,
    execution_time: executionTime,
    message: null,
    metadata: { ...metadata, steps_executed: outcome.stepsExecuted, step_results: {}, debug: {} },
  };
}

function pipelineResponse(snapshot: RunSnapshot, request: PipelineRequest, metadata: Record<string, unknown>) {
  const executionTime = ((snapshot.finishedAt ?? Date.now()) - snapshot.createdAt) / 1000;
  if (snapshot.status === "completed") {
    return {
      success: true,
      job_id: snapshot.id,
      // ZenML creates no tracked run under capture mode `none`.
      run_id: snapshot.capture.mode === "none" ? null : snapshot.id,
      results: resultsAsJson(snapshot.results ?? []),
      error: null,
      execution_time: executionTime,
      message: null,
      metadata: { ...metadata, steps_executed: snapshot.stepsExecuted, step_results: {}, debug: {} },
    };
  }
  const error =
    isActive(snapshot.status) || snapshot.error?.code === "run_timeout"
      ? zenmlTimeoutError(request.timeout)
      : snapshot.status === "cancelled"
        ? "Execution was cancelled"
        : `Pipeline execution failed: ${snapshot.error?.message ?? "unknown error"}`;
  return {
    success: false,
    job_id: snapshot.id,
    run_id: null,
    results: null,
    error,
    execution_time: executionTime,
    message: null,
    metadata,
  };
}

async function parsePipelineRequest(c: ZenmlContext): Promise<PipelineRequest> {
  const text = await c.req.text();
  // FastAPI reads an empty body as no body, and the request model is required.
  if (text === "") {
    throw new ApiError("malformed_json", "the request body is empty", { details: [{ path: [], message: "Field required", code: "missing" }] });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError("malformed_json", "the request body is not valid JSON", {
      details: [{ path: [], message: "JSON decode error", code: "json_invalid" }],
    });
  }
  if (nestsTooDeep(body)) {
    throw new ApiError("malformed_json", TOO_DEEP_MESSAGE, { details: [{ path: [], message: TOO_DEEP_MESSAGE, code: "json_invalid" }] });
  }
  const parsed = pipelineRequestSchema.safeParse(body, { reportInput: true });
  if (!parsed.success) {
    throw new ApiError("invalid_input", "the request does not match PipelineRequest", {
      details: detailsFromIssues(parsed.error.issues),
    });
  }
  return parsed.data;
}

async function listJobs(c: ZenmlContext): Promise<Response> {
  const query = jobsQuerySchema.safeParse({ status: lastQueryValue(c, "status"), limit: lastQueryValue(c, "limit") }, { reportInput: true });
  if (!query.success) {
    throw new ApiError("invalid_input", "invalid query parameters", { details: detailsFromIssues(query.error.issues, { in: "query" }) });
  }
  const { status, limit } = query.data;
  // As ZenML reads it: in any case, and an empty value filters nothing.
  const wanted = status ? status.toLowerCase() : undefined;
  if (wanted !== undefined && !JOB_STATUSES.includes(wanted as JobStatus)) {
    throw new ApiError("bad_request", `Invalid status '${status}'`);
  }
  const runStatus = wanted === undefined ? undefined : runStatusOf(wanted as JobStatus);
  const rows = await listRuns(c.env.DB, c.get("pipeline").name, { ...(runStatus ? { status: runStatus } : {}), limit });
  const jobs = rows.map(jobFromIndex);
  return c.json({ jobs, total: jobs.length });
}

function jobRun(c: ZenmlContext): RunClient {
  return c.get("engine").surfaceRun(c.get("pipeline").name, c.req.param("id") ?? "", "job id");
}

function jobNotFound(id: string): ApiError {
  return new ApiError("run_not_found", `Job ${id} not found`);
}

async function getJob(c: ZenmlContext): Promise<Response> {
  const run = jobRun(c);
  return c.json(jobFromSnapshot(await explainingOtherPipeline(c.env.DB, run, () => c.get("engine").describe(run, jobNotFound))));
}

async function cancelJob(c: ZenmlContext): Promise<Response> {
  const run = jobRun(c);
  const couldNotCancel = new ApiError("bad_request", `Job ${run.runId} could not be cancelled`);
  // ZenML answers a job it does not know as one it cannot cancel (400); a job of another of this
  // Worker's pipelines still gets the 404 that names that pipeline.
  const notHere = jobNotFound(run.runId);
  let outcome: Awaited<ReturnType<RunService["cancel"]>>;
  try {
    outcome = await explainingOtherPipeline(c.env.DB, run, () => c.get("engine").cancel(run, lastQueryValue(c, "reason"), () => notHere));
  } catch (error) {
    throw error === notHere ? couldNotCancel : error;
  }
  if (!outcome.cancelled) throw couldNotCancel;
  return c.json({ message: `Job ${run.runId} cancelled successfully`, cancelled: true });
}

async function streamJob(c: ZenmlContext): Promise<Response> {
  const run = jobRun(c);
  assertTicketCovers(c, run.pipeline, run.runId);
  const response = await explainingOtherPipeline(c.env.DB, run, () => c.get("engine").events(run, "zenml", c.req.header("last-event-id") ?? null, jobNotFound));
  response.headers.set("connection", "keep-alive");
  return response;
}

/** `WS /stream`: the Run object of a new job takes the socket (hibernation API) and the request frame. */
async function webSocket(c: ZenmlContext): Promise<Response> {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new ApiError("bad_request", "GET /stream is a WebSocket endpoint; send an Upgrade: websocket request, or use /stream/{job_id} for SSE");
  }
  const grant = c.get("ticketGrant");
  if (grant === undefined) return c.get("engine").openSocket(c.get("pipeline"), uuidv7(), c.req.raw);
  // A socket ticket's job id starts once: a ticket used already is refused before the upgrade
  // (two sockets racing with it reach the same Run object, where the second is a duplicate).
  const run = c.get("engine").surfaceRun(c.get("pipeline").name, grant.runId, "job id");
  if ((await run.probe()).found) throw new ApiError("run_id_in_use", `job ${grant.runId} has started already: a stream ticket opens one WebSocket`);
  return c.get("engine").openSocket(c.get("pipeline"), grant.runId, c.req.raw);
}

/**
 * `POST /stream-ticket`: a ticket for one `WS /stream?ticket=` within a minute, bound to a fresh
 * job id (the run that socket starts), for browsers, which cannot send a token on a WebSocket.
 */
async function socketTicketFor(c: ZenmlContext): Promise<Response> {
  const jobId = uuidv7();
  const expiresAt = new Date(Date.now() + SOCKET_TICKET_SECONDS * 1000);
  const minted = await mintFor(c, { kind: "socket", pipeline: c.get("pipeline").name, runId: jobId }, expiresAt);
  return c.json({ ticket: minted.ticket, expires_at: minted.expiresAt.toISOString(), job_id: jobId });
}
