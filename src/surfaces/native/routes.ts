/**
 * edgeserve's own API, resource style: pipelines, runs, their results and events. Every route is
 * declared once in route-table.ts with its zod schemas, which both validate it here (path
 * parameters, query and headers, before the handler runs) and generate the OpenAPI 3.1 document at
 * `/openapi.json` (openapi.ts; an interactive reference at `/docs`, src/routes/docs.ts).
 */
import { Hono, type Context } from "hono";
// A namespace import, so that the bundler keeps only the parts of zod that are used (no locales).
import * as z from "zod";
import type { AppEnv } from "../../app-env";
import { findPipeline, listPipelines } from "../../catalog";
import { ApiError, detailsFromIssues } from "../../errors/api-error";
import { isMemoryOnly } from "../../http/memory-only";
import { parsePipelineInput } from "../../http/pipeline-input";
import { pipelineOfRun } from "../../engine/run-index";
import { bearerAuth } from "../../middleware/auth";
import { pipelineNamed } from "../../middleware/pipeline";
import { assertTicketCovers, mintFor, runTicket } from "../../middleware/ticket-auth";
import { runTicketExpiry } from "../../auth/stream-tickets";
import { requestBodyLimit } from "../../middleware/body-limit";
import type { Pipeline } from "../../pipeline/graph";
import { methodNotAllowed } from "../../http/method-not-allowed";
import { honoPath, type NativeRoute } from "./openapi";
import { nativeDocument, routes } from "./route-table";
import { streamTicketSchema, type PipelineDetail, type PipelineSummary, type RunRecord } from "./schemas";
import { isActive, type RunSnapshot } from "../../runs/protocol";
import { resultAsJson } from "../../runs/result-json";
import type { RunClient } from "../../engine/run-client";
import { explainingOtherPipeline } from "../../engine/run-elsewhere";
import type { NotFound } from "../../engine/run-service";
import { NATIVE_ID_SEPARATOR } from "../../runs/run-id";
import { keptResults } from "../../engine/kept-results";
import { DEFAULT_SHARDS } from "../../engine/run-hosts";
import { runTimeoutSeconds } from "../../runs/run-timeout";
import { assertSameRequest, idempotentIdPart, requestDigest } from "./idempotency";

type NativeContext = Context<AppEnv>;

/** What a route's handler gets: its path parameters, query and headers, parsed by the route's schemas. */
interface RouteInput<R extends NativeRoute> {
  param: R["params"] extends z.ZodObject ? z.output<R["params"]> : Record<string, never>;
  query: R["query"] extends z.ZodObject ? z.output<R["query"]> : Record<string, never>;
  header: R["headers"] extends z.ZodObject ? z.output<R["headers"]> : Record<string, never>;
}

/** Serves a route of the table: its path parameters, query, then headers are validated first (400 `bad_request`). */
function serve<R extends NativeRoute>(app: Hono<AppEnv>, route: R, handler: (c: NativeContext, input: RouteInput<R>) => Response | Promise<Response>): void {
  app.on(route.method.toUpperCase(), honoPath(route.path), (c) => {
    const param = route.params ? valid(route.params, c.req.param()) : {};
    const query = route.query ? valid(route.query, c.req.query()) : {};
    const header = route.headers ? valid(route.headers, c.req.header()) : {};
    return handler(c, { param, query, header } as RouteInput<R>);
  });
}

function valid<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ApiError("bad_request", "the request is not valid", { details: detailsFromIssues(result.error.issues) });
  return result.data;
}

export function nativeRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // Stream tickets open the events routes of their own run (GET only), ahead of the bearer check.
  const onGet = (c: NativeContext, pipeline: string | null) => (c.req.method === "GET" ? { pipeline, runId: c.req.param("id") ?? "" } : null);
  app.use(
    "/v1/pipelines/:name/runs/:id/events",
    runTicket((c) => onGet(c, c.req.param("name") ?? "")),
  );
  app.use(
    "/v1/runs/:id/events",
    runTicket((c) => onGet(c, null)),
  );
  for (const path of ["/v1/pipelines", "/v1/pipelines/*", "/v1/runs/*", "/openapi.json"]) {
    app.use(
      path,
      async function nativeSurface(c, next) {
        c.set("surface", "native");
        await next();
      },
      bearerAuth,
    );
  }

  serve(app, routes.listPipelines, (c) => c.json({ pipelines: listPipelines().map((p) => pipelineSummary(c, p)) }, 200));

  serve(app, routes.getPipeline, (c, { param }) => c.json(pipelineDetail(c, pipelineNamed(param.name)), 200));

  app.use("/v1/pipelines/:name/runs", requestBodyLimit);
  serve(app, routes.startRun, async (c, { param, header: headers }) => {
    const pipeline = pipelineNamed(param.name);
    if (isMemoryOnly(pipeline)) {
      throw new ApiError("memory_only", `pipeline '${pipeline.name}' runs in memory only: use the Numaflow or ZenML sync routes`);
    }
    const async = /(^|[,;\s])respond-async($|[,;\s])/i.test(headers.prefer ?? "");
    const key = headers["idempotency-key"];
    // A server-generated id carries a new object's id (no name check); an Idempotency-Key's is a name.
    const runId = `${pipeline.name}${NATIVE_ID_SEPARATOR}${key ? await idempotentIdPart(key) : c.env.RUNS.newUniqueId().toString()}`;
    const engine = c.get("engine");
    const body = await c.req.arrayBuffer();
    const input = parsePipelineInput(pipeline, body);
    const digest = key ? await requestDigest(body) : undefined;
    const waitMs = async ? 0 : engine.requestTimeoutMs(pipeline);
    const spec = { pipeline, runId, input, headers: c.req.raw.headers, surface: "native" as const, ...(digest ? { requestDigest: digest } : {}) };
    const outcome = await engine.start(spec, async ? { async: true } : { async: false, waitMs });
    let snapshot: RunSnapshot;
    if (!outcome.started) {
      // The id is taken: only an Idempotency-Key leads here. The same body is a retry of the same
      // create (answered with its run); another body is refused before waiting for anything.
      const run = engine.run(pipeline.name, runId);
      const existing = await engine.describe(run);
      assertSameRequest(existing, digest ?? "");
      snapshot = isActive(existing.status) && waitMs > 0 ? await engine.wait(run, waitMs) : existing;
      c.header("Idempotent-Replayed", "true");
    } else {
      snapshot = outcome.snapshot ?? (await engine.describe(engine.run(pipeline.name, runId)));
    }
    const record = runRecord(snapshot);
    c.header("Location", record.url);
    // `Prefer: respond-async` is always 202 (RFC 7240), even when the run has ended already (a
    // replayed create, or an inline run done within the call): the record says where it stands.
    if (async) {
      c.header("Preference-Applied", "respond-async");
      return c.json(record, 202);
    }
    return isActive(snapshot.status) ? c.json(record, 202) : c.json(record, 200);
  });

  serve(app, routes.getRun, async (c, { param }) => {
    const run = await runNamed(c, param.id);
    return c.json(runRecord(await c.get("engine").describe(run, runNotFound)), 200);
  });

  serve(app, routes.getResult, async (c, { param }) => {
    const run = await runNamed(c, param.id);
    const snapshot = await c.get("engine").describe(run, runNotFound);
    if (isActive(snapshot.status)) return c.json(runRecord(snapshot), 202);
    if (snapshot.status !== "completed") {
      throw new ApiError(
        "run_finished",
        `run ${run.runId} has no result: it ${snapshot.status === "failed" ? "failed" : "was cancelled"}${snapshot.error ? ` (${snapshot.error.message})` : ""}`,
      );
    }
    return c.json({ id: snapshot.id, status: "completed" as const, results: keptResults(snapshot).map(resultAsJson) }, 200);
  });

  serve(app, routes.events, async (c, { param, header }) => {
    // A ticket names the run's pipeline: no need to look the run up in the index.
    const grant = c.get("ticketGrant");
    const run = grant ? c.get("engine").run(grant.pipeline, param.id) : await runNamed(c, param.id);
    assertTicketCovers(c, run.pipeline, run.runId);
    return c.get("engine").events(run, "native", header["last-event-id"] ?? null, runNotFound);
  });

  // Straight to the Run object, so a run started on any surface streams from its first moment.
  serve(app, routes.pipelineRunEvents, async (c, { param, header }) => {
    const pipeline = pipelineNamed(param.name);
    assertTicketCovers(c, pipeline.name, param.id);
    const run = c.get("engine").run(pipeline.name, param.id);
    return explainingOtherPipeline(c.env.DB, run, () => c.get("engine").events(run, "native", header["last-event-id"] ?? null, runNotFoundIn(run.pipeline)));
  });

  serve(app, routes.streamTicket, async (c, { param }) => {
    const pipeline = pipelineNamed(param.name);
    const run = c.get("engine").run(pipeline.name, param.id);
    const deadlineAt = await c.get("engine").deadline(run, runNotFound);
    const expiresAt = runTicketExpiry(Date.now(), runTimeoutSeconds(pipeline, c.get("settings"), undefined), deadlineAt);
    const minted = await mintFor(c, { kind: "run", pipeline: pipeline.name, runId: run.runId }, expiresAt);
    return c.json(streamTicketSchema.parse({ ticket: minted.ticket, expires_at: minted.expiresAt.toISOString() }), 200);
  });

  serve(app, routes.cancelRun, async (c, { param, query }) => c.json(await cancelRun(c, await runNamed(c, param.id), query.reason), 200));

  // The same run addressed with its pipeline: ids of any surface, at once (no run index read, but
  // on a 404, which says so when a run with this id exists in another pipeline).
  const runOfPath = (c: NativeContext, param: { name: string; id: string }) => c.get("engine").run(pipelineNamed(param.name).name, param.id);
  serve(app, routes.getPipelineRun, async (c, { param }) => {
    const run = runOfPath(c, param);
    const snapshot = await explainingOtherPipeline(c.env.DB, run, () => c.get("engine").describe(run, runNotFoundIn(run.pipeline)));
    return c.json(runRecord(snapshot), 200);
  });
  serve(app, routes.cancelPipelineRun, async (c, { param, query }) => {
    const run = runOfPath(c, param);
    return c.json(await explainingOtherPipeline(c.env.DB, run, () => cancelRun(c, run, query.reason, runNotFoundIn(run.pipeline))), 200);
  });

  app.get("/openapi.json", (c) => c.json(nativeDocument()));

  // A known path asked with a method it does not serve: 405 with `Allow`, not 404.
  const allowed = new Map<string, string[]>();
  const allow = (path: string, method: string) => allowed.set(path, [...(allowed.get(path) ?? []), method.toUpperCase()]);
  for (const route of Object.values(routes)) allow(honoPath(route.path), route.method);
  allow("/openapi.json", "GET");
  for (const [path, methods] of allowed) app.all(path, methodNotAllowed(methods));
  return app;
}

/** Cancels a run (`?reason=` optional) and answers its record; 409 `run_finished` if it has ended. */
async function cancelRun(c: NativeContext, run: RunClient, reason: string | undefined, notFound: NotFound = runNotFound): Promise<RunRecord> {
  const outcome = await c.get("engine").cancel(run, reason, notFound);
  if (!outcome.cancelled) throw new ApiError("run_finished", `run ${run.runId} has already ended (${outcome.snapshot.status})`);
  return runRecord(outcome.snapshot);
}

/**
 * The run behind `/v1/runs/{id}`: native ids name their pipeline; a run started on another surface
 * is found through the run index (a copy, so a run a moment old may not be listed yet).
 */
async function runNamed(c: NativeContext, id: string): Promise<RunClient> {
  const separator = id.indexOf(NATIVE_ID_SEPARATOR);
  if (separator > 0 && findPipeline(id.slice(0, separator))) return c.get("engine").run(id.slice(0, separator), id);
  const pipeline = await pipelineOfRun(c.env.DB, id);
  if (!pipeline) throw runNotFound(id);
  return c.get("engine").run(pipeline, id);
}

function runNotFound(id: string): ApiError {
  return new ApiError("run_not_found", `no run with id ${id}`);
}

function runNotFoundIn(pipeline: string): NotFound {
  return (id) => new ApiError("run_not_found", `no run '${id}' in pipeline '${pipeline}'`);
}

function pipelineSummary(c: NativeContext, p: Pipeline): PipelineSummary {
  return {
    name: p.name,
    version: p.definition.version,
    description: p.definition.description,
    default: p.name === c.get("settings").EDGESERVE_DEFAULT_PIPELINE,
    runtime: p.definition.runtime ?? c.get("settings").EDGESERVE_CAPTURE_RUNTIME,
    result_store: p.definition.resultStore,
    run_host: p.definition.runHost,
    ...(p.definition.runHost === "journal" ? { shards: p.definition.shards ?? DEFAULT_SHARDS } : {}),
    retention_seconds: p.definition.retentionSeconds ?? c.get("settings").EDGESERVE_RETENTION_SECONDS,
    steps: p.order.map((name) => {
      const step = p.step(name);
      return step.kind === "remote" ? { name, kind: step.kind, function: step.function } : { name, kind: step.kind };
    }),
  };
}

function pipelineDetail(c: NativeContext, p: Pipeline): PipelineDetail {
  return {
    ...pipelineSummary(c, p),
    edges: p.definition.edges.map((e) => ({ from: e.from, to: e.to, ...(e.conditions ? { conditions: e.conditions } : {}) })),
    input_schema: z.toJSONSchema(p.definition.input, { io: "input", unrepresentable: "any" }) as Record<string, unknown>,
    request_timeout_seconds: p.definition.requestTimeoutSeconds ?? c.get("settings").EDGESERVE_REQUEST_TIMEOUT_SECONDS,
    run_timeout_seconds: runTimeoutSeconds(p, c.get("settings"), undefined),
  };
}

function runRecord(snapshot: RunSnapshot): RunRecord {
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
    capture: snapshot.capture as unknown as Record<string, unknown>,
    results: snapshot.results?.map(resultAsJson) ?? null,
    url: `/v1/runs/${encodeURIComponent(snapshot.id)}`,
  };
}
