/**
 * The native API's route table: every route declared once with its zod schemas, which both
 * validate it (routes.ts serves each with its path parameters, query and headers checked before
 * the handler runs) and generate the OpenAPI 3.1 document at `/openapi.json` (openapi.ts).
 */
// A namespace import, so that the bundler keeps only the parts of zod that are used (no locales).
import * as z from "zod";
import { openApiDocument, type NativeRoute } from "./openapi";
import {
  cancelQuerySchema,
  errorSchema,
  eventsHeadersSchema,
  pipelineDetailFieldsSchema,
  pipelineDetailSchema,
  pipelineParamSchema,
  pipelineRunParamSchema,
  pipelineSummarySchema,
  runParamSchema,
  runRecordSchema,
  runResultSchema,
  startRunHeadersSchema,
  streamTicketSchema,
} from "./schemas";

const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, { description: "An error", content: { "application/json": { schema: errorSchema } } }]));
const json = (schema: z.ZodType, description: string) => ({ description, content: { "application/json": { schema } } });

export const routes = {
  listPipelines: {
    method: "get",
    path: "/v1/pipelines",
    tags: ["pipelines"],
    summary: "The deployed pipelines",
    responses: { 200: json(z.object({ pipelines: z.array(pipelineSummarySchema) }), "Every deployed pipeline"), ...errors(401) },
  },
  getPipeline: {
    method: "get",
    path: "/v1/pipelines/{name}",
    tags: ["pipelines"],
    summary: "A pipeline: its steps, edges and input schema",
    params: pipelineParamSchema,
    responses: { 200: json(pipelineDetailSchema, "The pipeline"), ...errors(401, 404) },
  },
  startRun: {
    method: "post",
    path: "/v1/pipelines/{name}/runs",
    tags: ["runs"],
    summary: "Start a run (waits for it unless `Prefer: respond-async`)",
    params: pipelineParamSchema,
    headers: startRunHeadersSchema,
    requestBody: { required: true, description: "The run's input, as the pipeline's input schema says", content: { "application/json": { schema: {} } } },
    responses: {
      200: json(runRecordSchema, "Without `Prefer: respond-async`: the run ended within the pipeline's request timeout (completed, failed or cancelled)"),
      202: json(
        runRecordSchema,
        "Accepted: always with `Prefer: respond-async` (the record may show the run ended already), or the run outlived the request timeout; its URL is in `Location`",
      ),
      ...errors(400, 401, 404, 409, 413, 422, 429),
    },
  },
  getRun: {
    method: "get",
    path: "/v1/runs/{id}",
    tags: ["runs"],
    summary: "A run: status, timings, per-step states (and results once completed)",
    params: runParamSchema,
    responses: { 200: json(runRecordSchema, "The run"), ...errors(401, 404) },
  },
  getResult: {
    method: "get",
    path: "/v1/runs/{id}/result",
    tags: ["runs"],
    summary: "A completed run's results",
    params: runParamSchema,
    responses: {
      200: json(runResultSchema, "The results, in arrival order"),
      202: json(runRecordSchema, "The run has not ended yet"),
      ...errors(401, 404, 409),
    },
  },
  events: {
    method: "get",
    path: "/v1/runs/{id}/events",
    tags: ["runs"],
    summary: "The run's events as Server-Sent Events (ids; resume with Last-Event-ID)",
    params: runParamSchema,
    headers: eventsHeadersSchema,
    responses: {
      200: { description: "An event stream: one event per run event, named by its type", content: { "text/event-stream": { schema: z.string() } } },
      204: { description: "The run has ended and everything after Last-Event-ID was seen" },
      ...errors(401, 404),
    },
  },
  pipelineRunEvents: {
    method: "get",
    path: "/v1/pipelines/{name}/runs/{id}/events",
    tags: ["runs"],
    summary: "A run's events, addressed with its pipeline: any surface's run, from its first moment (ids; resume with Last-Event-ID)",
    params: pipelineRunParamSchema,
    headers: eventsHeadersSchema,
    security: ["bearer", "ticket"],
    responses: {
      200: { description: "An event stream: one event per run event, named by its type", content: { "text/event-stream": { schema: z.string() } } },
      204: { description: "The run has ended and everything after Last-Event-ID was seen" },
      ...errors(400, 401, 404, 429),
    },
  },
  streamTicket: {
    method: "post",
    path: "/v1/pipelines/{name}/runs/{id}/stream-ticket",
    tags: ["runs"],
    summary:
      "A stream ticket: opens this run's event streams (and nothing else) with `?ticket=`, for clients that cannot send an Authorization header (EventSource)",
    params: pipelineRunParamSchema,
    responses: { 200: json(streamTicketSchema, "The ticket"), ...errors(400, 401, 404) },
  },
  cancelRun: {
    method: "delete",
    path: "/v1/runs/{id}",
    tags: ["runs"],
    summary: "Cancel a run (between steps)",
    params: runParamSchema,
    query: cancelQuerySchema,
    responses: { 200: json(runRecordSchema, "The cancelled run"), ...errors(401, 404, 409) },
  },
  getPipelineRun: {
    method: "get",
    path: "/v1/pipelines/{name}/runs/{id}",
    tags: ["runs"],
    summary: "A run addressed with its pipeline (an id of any surface, found without the run index)",
    params: pipelineRunParamSchema,
    responses: { 200: json(runRecordSchema, "The run"), ...errors(400, 401, 404) },
  },
  cancelPipelineRun: {
    method: "post",
    path: "/v1/pipelines/{name}/runs/{id}/cancel",
    tags: ["runs"],
    summary: "Cancel a run addressed with its pipeline (between steps)",
    params: pipelineRunParamSchema,
    query: cancelQuerySchema,
    responses: { 200: json(runRecordSchema, "The cancelled run"), ...errors(400, 401, 404, 409) },
  },
} satisfies Record<string, NativeRoute>;

let cachedDocument: Record<string, unknown> | undefined;

/** The OpenAPI document: built on its first request (not at startup), then kept. */
export function nativeDocument(): Record<string, unknown> {
  return (cachedDocument ??= openApiDocument({
    info: { title: "edgeserve", version: "1", description: "edgeserve's native API: pipelines, runs, results and events." },
    securitySchemes: {
      bearer: { type: "http", scheme: "bearer" },
      ticket: {
        type: "apiKey",
        in: "query",
        name: "ticket",
        description: "A stream ticket (`POST /v1/pipelines/{name}/runs/{id}/stream-ticket`): opens that run's event streams only",
      },
    },
    routes: Object.values(routes),
    components: {
      PipelineSummary: pipelineSummarySchema,
      Error: errorSchema,
      Pipeline: { schema: pipelineDetailSchema, extends: "PipelineSummary", fields: pipelineDetailFieldsSchema },
      Run: runRecordSchema,
      RunResult: runResultSchema,
      StreamTicket: streamTicketSchema,
    },
  }));
}
