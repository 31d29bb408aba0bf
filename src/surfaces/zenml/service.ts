/**
 * The ZenML serving service's own endpoints, per pipeline: `/health` (open, as in ZenML), `/info`
 * (the parameter schema), `/status` and `/metrics` (JSON, or Prometheus text for a scraper).
 */
import type { Context } from "hono";
import { accepts } from "hono/accepts";
import { createMiddleware } from "hono/factory";
// A namespace import, so that the bundler keeps only the parts of zod that are used (no locales).
import * as z from "zod";
import type { AppEnv } from "../../app-env";
import { countRuns, runsSince } from "../../engine/run-index";
import { isAuthorized } from "../../middleware/auth";
import { zenmlTimestamp } from "./events";
import { deploymentId } from "./jobs";
import { prometheusMetrics } from "./prometheus";
import { serviceStartedAt } from "./started-at";

type ZenmlContext = Context<AppEnv>;

const DAY_MS = 86_400_000;

/**
 * `/health` stays open, as in ZenML; but when tokens are configured, a caller without a valid one
 * learns only that the service is up: the same answer for every path (so it does not tell which
 * pipelines exist), and no run index read.
 */
export const openHealth = createMiddleware<AppEnv>(async function openHealth(c, next) {
  if (await isAuthorized(c)) return next();
  return c.json({ status: "healthy" });
});

export async function health(c: ZenmlContext): Promise<Response> {
  let lastExecution: string | null = null;
  try {
    const { last } = await runsSince(c.env.DB, c.get("pipeline").name, 0);
    lastExecution = last === null ? null : zenmlTimestamp(last);
  } catch (error) {
    console.error(`edgeserve /health: the run index is unreachable: ${String(error)}`);
  }
  return c.json({
    status: "healthy",
    deployment_id: deploymentId(c.get("pipeline")),
    pipeline_name: c.get("pipeline").name,
    uptime: (Date.now() - serviceStartedAt(c.env)) / 1000,
    last_execution: lastExecution,
  });
}

export async function info(c: ZenmlContext): Promise<Response> {
  const pipeline = c.get("pipeline");
  const schema = z.toJSONSchema(pipeline.definition.input, { io: "input", unrepresentable: "any" }) as {
    properties?: Record<string, { type?: unknown; default?: unknown }>;
    required?: string[];
  };
  const parameters = Object.fromEntries(
    Object.entries(schema.properties ?? {}).map(([name, property]) => [
      name,
      { type: zenmlTypeName(property.type), default: property.default ?? null, required: (schema.required ?? []).includes(name) },
    ]),
  );
  return c.json({
    pipeline: {
      name: pipeline.name,
      version: pipeline.definition.version,
      description: pipeline.definition.description,
      steps: pipeline.processingSteps,
      parameters,
      parameters_schema: schema,
    },
    deployment: { id: deploymentId(pipeline), created_at: new Date(serviceStartedAt(c.env)).toISOString(), stack: "cloudflare-workers" },
  });
}

/** ZenML names parameter types after Python's (`str`, `int`, …). */
function zenmlTypeName(type: unknown): string {
  const names: Record<string, string> = { string: "str", integer: "int", number: "float", boolean: "bool", array: "list", object: "dict" };
  return typeof type === "string" ? (names[type] ?? type) : "any";
}

export async function status(c: ZenmlContext): Promise<Response> {
  const url = new URL(c.req.url);
  return c.json({
    // ZenML's own identity, which its clients may check; `implementation` says what answers.
    service_name: "ZenML Pipeline Serving",
    version: "0.2.0",
    implementation: "edgeserve",
    deployment_id: deploymentId(c.get("pipeline")),
    status: "running",
    started_at: new Date(serviceStartedAt(c.env)).toISOString(),
    configuration: {
      deployment_id: deploymentId(c.get("pipeline")),
      host: url.hostname,
      port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
    },
  });
}

export async function metrics(c: ZenmlContext): Promise<Response> {
  const pipeline = c.get("pipeline").name;
  // ZenML answers JSON; Prometheus text only for a client that prefers it (a scraper's
  // `text/plain;version=0.0.4;q=0.5,*/*;q=0.1`), not one that merely lists it after JSON (axios).
  if (accepts(c, { header: "Accept", supports: ["application/json", "text/plain"], default: "application/json" }) === "text/plain") {
    return c.text(await prometheusMetrics(c.env.DB, pipeline), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  }
  const counts = await countRuns(c.env.DB, pipeline);
  const total = counts.reduce((sum, row) => sum + row.runs, 0);
  const successful = counts.filter((r) => r.status === "completed").reduce((sum, r) => sum + r.runs, 0);
  const failed = counts.filter((r) => r.status === "failed").reduce((sum, r) => sum + r.runs, 0);
  const finished = counts.filter((r) => r.status !== "running");
  const finishedRuns = finished.reduce((sum, r) => sum + r.runs, 0);
  const totalMs = finished.reduce((sum, r) => sum + r.total_ms, 0);
  const { runs: last24h } = await runsSince(c.env.DB, pipeline, Date.now() - DAY_MS);
  return c.json({
    total_executions: total,
    successful_executions: successful,
    failed_executions: failed,
    success_rate: successful / Math.max(total, 1),
    average_execution_time: finishedRuns === 0 ? 0 : totalMs / finishedRuns / 1000,
    last_24h_executions: last24h,
  });
}
