/** ZenML's request models (reference/zenml-serving.md §1), validated with zod at the edge. */
import * as z from "zod";
import { capturePolicyInputSchema, type CapturePolicyInput } from "../../capture/policy";

/** ZenML's `capture_override`: a partial capture policy; `artifacts` and `retention_days` are accepted and ignored. */
export const captureOverrideSchema = capturePolicyInputSchema.extend({
  artifacts: z.enum(["none", "errors_only", "sampled", "full"]).optional(),
  retention_days: z.number().int().min(1).optional(),
});

/** `PipelineRequest`: the body of `/invoke` and the first frame of the WebSocket. */
export const pipelineRequestSchema = z.object({
  parameters: z.record(z.string(), z.unknown()).default({}),
  run_name: z.string().max(256).nullish(),
  timeout: z.number().int().min(1).max(3600).default(300),
  capture_override: captureOverrideSchema.nullish(),
});
export type PipelineRequest = z.output<typeof pipelineRequestSchema>;

export const jobsQuerySchema = z.object({
  status: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** The policy fields of a `capture_override` (ZenML's artifact and retention knobs have no effect here). */
export function captureOverride(request: PipelineRequest): CapturePolicyInput | undefined {
  if (!request.capture_override) return undefined;
  const { artifacts: _artifacts, retention_days: _retention, ...policy } = request.capture_override;
  return policy;
}
