/**
 * The Numaflow ServingPipeline surface (reference/numaflow-serving.md): `/v1/process/sync`,
 * `/async`, `/fetch`, `/status` (alias `/message`) and `/sse`, with raw bytes in and out.
 * Mounted at the root for the default pipeline and under `/pipelines/<name>` for every pipeline.
 */
import { Hono, type Context } from "hono";
import * as z from "zod";
import type { AppEnv } from "../../app-env";
import { concatBytes } from "../../bytes";
import { keptResults } from "../../engine/kept-results";
import { ApiError } from "../../errors/api-error";
import { numaflowTimestamp } from "../../errors/error-response";
import { isMemoryOnly, memoryResults, requiresStoredRuns, runMemoryOnly } from "../../http/memory-only";
import { methodNotAllowed } from "../../http/method-not-allowed";
import { parsePipelineInput } from "../../http/pipeline-input";
import { bearerAuth } from "../../middleware/auth";
import { requestBodyLimit } from "../../middleware/body-limit";
import { resolvePipeline } from "../../middleware/pipeline";
import { givenRequestId, requestId } from "../../middleware/request-id";
import { assertTicketCovers, hasBody, mountedPipeline, runTicket, type StreamTarget } from "../../middleware/ticket-auth";
import type { RunClient } from "../../engine/run-client";
import { explainingOtherPipeline } from "../../engine/run-elsewhere";
import type { StartSpec } from "../../engine/run-service";
import type { StoredMessage } from "../../pipeline/message";
import { isActive, type ResultItem, type RunSnapshot } from "../../runs/protocol";

/** `?deltas=` of `/sse`: whether a streaming step's deltas come with the results. */
const deltasQuerySchema = z.enum(["true", "false"]).optional();
type NumaflowContext = Context<AppEnv>;

export function numaflowRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use("/v1/process/*", async function numaflowSurface(c, next) {
    c.set("surface", "numaflow");
    await next();
  });
  // A stream ticket opens the subscribe form of /sse (no body) for the ticket's run.
  app.use("/v1/process/sse", runTicket(subscription));
  // Numaflow's order: id extraction and the dot check come before auth, so a bad id is 400, not 401.
  app.use("/v1/process/*", requestId, bearerAuth, resolvePipeline, requestBodyLimit);

  app.post("/v1/process/sync", givenRequestId, sync).all("/v1/process/sync", methodNotAllowed(["POST"]));
  app.post("/v1/process/async", requiresStoredRuns, givenRequestId, startAsync).all("/v1/process/async", methodNotAllowed(["POST"]));
  app.get("/v1/process/fetch", requiresStoredRuns, fetchResult).all("/v1/process/fetch", methodNotAllowed(["GET"]));
  for (const path of ["/v1/process/status", "/v1/process/message"]) {
    app.get(path, requiresStoredRuns, messagePath).all(path, methodNotAllowed(["GET"]));
  }
  app.on(["GET", "POST"], "/v1/process/sse", requiresStoredRuns, givenRequestId, sse).all("/v1/process/sse", methodNotAllowed(["GET", "POST"]));
  return app;
}

async function sync(c: NumaflowContext): Promise<Response> {
  if (isMemoryOnly(c.get("pipeline"))) return syncInMemory(c);
  const outcome = await c.get("engine").start(await startSpec(c), { async: false });
  if (!outcome.started) throw duplicateId(c.get("runId"));
  const snapshot = outcome.snapshot!;
  const idHeader = { [c.get("settings").EDGESERVE_ID_HEADER]: c.get("runId") };
  if (isActive(snapshot.status)) {
    // Numaflow answers 408 with no body; edgeserve adds the id so the caller can fetch later.
    throw new ApiError("request_timeout", `run ${c.get("runId")} is still running`, { headers: idHeader });
  }
  return resultsResponse(snapshot, idHeader);
}

/** A memory-only pipeline runs right here; nothing of the run outlives the response. */
async function syncInMemory(c: NumaflowContext): Promise<Response> {
  const input = parsePipelineInput(c.get("pipeline"), await c.req.arrayBuffer());
  const idHeader = { [c.get("settings").EDGESERVE_ID_HEADER]: c.get("runId") };
  const outcome = await runMemoryOnly(c, input, {
    runId: c.get("runId"),
    timeoutMs: c.get("engine").requestTimeoutMs(c.get("pipeline")),
    idHeader: c.get("settings").EDGESERVE_ID_HEADER,
  });
  if (outcome.status === "timeout") {
    throw new ApiError("request_timeout", `memory-only run ${c.get("runId")} did not finish in time`, { headers: idHeader });
  }
  if (outcome.status === "failed") throw new ApiError("run_failed", `run ${c.get("runId")} failed: ${outcome.message}`);
  return concatenatedResults(memoryResults(outcome), idHeader);
}

async function startAsync(c: NumaflowContext): Promise<Response> {
  const outcome = await c.get("engine").start(await startSpec(c), { async: true });
  if (!outcome.started) throw duplicateId(c.get("runId"));
  return c.json({ message: "Successfully published message", id: c.get("runId"), code: 200, timestamp: numaflowTimestamp() }, 200, {
    [c.get("settings").EDGESERVE_ID_HEADER]: c.get("runId"),
  });
}

async function fetchResult(c: NumaflowContext): Promise<Response> {
  const run = queriedRun(c);
  const snapshot = await explainingOtherPipeline(c.env.DB, run, () => c.get("engine").describe(run, runNotFound));
  if (isActive(snapshot.status)) return c.json({ status: "in-progress" });
  return resultsResponse(snapshot, {});
}

async function messagePath(c: NumaflowContext): Promise<Response> {
  const run = queriedRun(c);
  const path = await explainingOtherPipeline(c.env.DB, run, () => c.get("engine").messagePath(run, runNotFound));
  if (isActive(path.status)) return c.text("Request In Progress");
  // Numaflow tracks only a request that completed: a failed or cancelled one has no subgraph.
  if (path.status !== "completed") throw new ApiError("run_failed", "Failed to track message");
  return c.text(JSON.stringify({ id: run.runId, edge_callbacks: path.edges }));
}

/**
 * Starts a run from the body and streams its results; with no body and the id of an existing run
 * (id header or `?id=`), subscribes to that run instead. `Last-Event-ID` resumes either, and turns
 * a re-sent start request for an existing id into a resume (that is how SSE clients reconnect).
 */
async function sse(c: NumaflowContext): Promise<Response> {
  const engine = c.get("engine");
  // Numaflow streams results only; `?deltas=true` adds a streaming step's deltas (an edgeserve
  // opt-in). Read before anything starts: a bad value must not leave a run behind.
  const deltasQuery = deltasQuerySchema.safeParse(c.req.query("deltas"));
  if (!deltasQuery.success) throw new ApiError("bad_request", "query parameter 'deltas' must be 'true' or 'false'");
  const deltas = deltasQuery.data === "true";
  const body = await c.req.arrayBuffer();
  const queried = c.req.query("id");
  const lastEventId = c.req.header("last-event-id") ?? null;
  const subscribeTo = body.byteLength === 0 ? (c.get("runIdGiven") ? c.get("runId") : queried) : undefined;
  // A ticket opens only the subscription to its own run, never a start.
  assertTicketCovers(c, c.get("pipeline").name, subscribeTo);
  let run: RunClient;
  if (subscribeTo !== undefined) {
    run = engine.surfaceRun(c.get("pipeline").name, subscribeTo, "id");
    // Numaflow publishes whatever body an SSE request brings, an empty one too: an id header that
    // names no run starts one. (`?id=`, edgeserve's, only subscribes; a ticket never starts a run.)
    const startsEmpty = c.get("runIdGiven") && c.get("ticketGrant") === undefined && !(await run.probe()).found;
    if (startsEmpty) await startSseRun(c, run, body);
    else {
      await explainingOtherPipeline(c.env.DB, run, () =>
        engine.ensureExists(run, (id) => new ApiError("run_not_found", `no run with id ${id}; send a body to start one`)),
      );
    }
  } else {
    run = engine.surfaceRun(c.get("pipeline").name, c.get("runId"), "id");
    // An SSE client reconnecting re-sends the original request, body and all, with Last-Event-ID:
    // that is a resume of the run it started, not a duplicate.
    const resuming = lastEventId !== null && c.get("runIdGiven") && (await run.probe()).found;
    if (!resuming) await startSseRun(c, run, body);
  }
  const response = await engine.events(run, deltas ? "numaflow-deltas" : "numaflow", lastEventId, runNotFound);
  response.headers.set(c.get("settings").EDGESERVE_ID_HEADER, run.runId);
  return response;
}

/**
 * Starts an SSE request's run from its body. The id of a run an SSE request started, sent here
 * again (its client lost the stream), re-attaches: the stream is replayed from the start, as
 * Numaflow re-attaches; any other run's id is a duplicate.
 */
async function startSseRun(c: NumaflowContext, run: RunClient, body: ArrayBuffer): Promise<void> {
  const input = parsePipelineInput(c.get("pipeline"), body);
  const outcome = await c.get("engine").start({ ...startSpecFrom(c, input), sseStart: true }, { async: true, queueWhenFull: false });
  if (!outcome.started && !outcome.sseStart) throw duplicateId(run.runId);
}

/** What a ticket may open here: the subscribe form of `GET /sse` (no body), by the id header or `?id=`. */
function subscription(c: NumaflowContext): StreamTarget | null {
  if (c.req.method !== "GET" || hasBody(c.req.raw)) return null;
  const id = c.req.header(c.get("settings").EDGESERVE_ID_HEADER) ?? c.req.query("id");
  return id === undefined ? null : { pipeline: mountedPipeline(c), runId: id };
}

async function startSpec(c: NumaflowContext): Promise<StartSpec> {
  return startSpecFrom(c, parsePipelineInput(c.get("pipeline"), await c.req.arrayBuffer()));
}

function startSpecFrom(c: NumaflowContext, input: StoredMessage): StartSpec {
  // Numaflow forwards every request header to the pipeline, plus the id header with the request's id.
  const idHeader = c.get("settings").EDGESERVE_ID_HEADER;
  return { pipeline: c.get("pipeline"), runId: c.get("runId"), input, headers: c.req.raw.headers, idHeader, surface: "numaflow" };
}

function queriedRun(c: NumaflowContext): RunClient {
  const id = c.req.query("id");
  if (id === undefined) throw new ApiError("bad_request", "the query parameter 'id' is required");
  return c.get("engine").surfaceRun(c.get("pipeline").name, id, "id");
}

/** Several results are concatenated; `Numaflow-Array-*` headers say where each one ends. */
function resultsResponse(snapshot: RunSnapshot, extraHeaders: Record<string, string>): Response {
  if (snapshot.status !== "completed") {
    const reason = snapshot.error?.message ?? `run ended ${snapshot.status}`;
    // A run past its deadline says so in its code, as the error table promises.
    throw new ApiError(snapshot.error?.code === "run_timeout" ? "run_timeout" : "run_failed", `run ${snapshot.id} ${snapshot.status}: ${reason}`);
  }
  return concatenatedResults(keptResults(snapshot), extraHeaders);
}

function concatenatedResults(results: readonly ResultItem[], extraHeaders: Record<string, string>): Response {
  return new Response(concatBytes(results.map((r) => r.bytes)), {
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
