/** ZenML's request models (reference/zenml-serving.md §1), validated with zod at the edge. */
import * as z from "zod";
import { capturePolicyInputSchema, type CapturePolicyInput } from "../../capture/policy";

/**
 * ZenML's `capture_override`: a partial capture policy. As ZenML applies only the keys that name a
 * policy field, any other key is ignored (dropped); `artifacts` and `retention_days` are policy
 * fields without an effect here, checked and ignored. A policy field's invalid value is 422.
 */
export const captureOverrideSchema = z.object({
  ...capturePolicyInputSchema.shape,
  artifacts: z.enum(["none", "errors_only", "sampled", "full"]).optional(),
  retention_days: z.number().int().min(1).optional(),
});

/** ZenML's `ZENML_SERVING_REQUEST_TIMEOUT` default, for a request that names no timeout. */
const DEFAULT_TIMEOUT_SECONDS = 300;

/** ZenML keeps at most this many jobs, so no list is longer; a larger `limit` lists them all. */
const MAX_LISTED_JOBS = 1000;

/**
 * An integer as Pydantic's lax mode reads one: a whole number written as a string (spaces and a
 * sign allowed, as in a query string) is taken as that number; anything else is left to fail.
 */
function laxInteger(value: unknown): unknown {
  return typeof value === "string" && /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : value;
}

/** `PipelineRequest`: the body of `/invoke` and the first frame of the WebSocket. */
export const pipelineRequestSchema = z.object({
  parameters: z.record(z.string(), z.unknown()).default({}),
  run_name: z.string().max(256).nullish(),
  // Optional in ZenML's model: null (what a Python client sends for None) means the default.
  timeout: z.preprocess(laxInteger, z.number().int().min(1).max(3600).nullish()).transform((seconds) => seconds ?? DEFAULT_TIMEOUT_SECONDS),
  capture_override: captureOverrideSchema.nullish(),
});
export type PipelineRequest = z.output<typeof pipelineRequestSchema>;

export const jobsQuerySchema = z.object({
  status: z.string().optional(),
  // Any integer from 0, as Pydantic's unbounded int takes it; a list is at most MAX_LISTED_JOBS long.
  limit: z.preprocess((value) => {
    const limit = laxInteger(value);
    return typeof limit === "number" && limit > MAX_LISTED_JOBS ? MAX_LISTED_JOBS : limit;
  }, z.number().int().min(0).default(100)),
});

/** The policy fields of a `capture_override` (ZenML's artifact and retention knobs have no effect here). */
export function captureOverride(request: PipelineRequest): CapturePolicyInput | undefined {
  if (!request.capture_override) return undefined;
  const { artifacts: _artifacts, retention_days: _retention, ...policy } = request.capture_override;
  return policy;
}
