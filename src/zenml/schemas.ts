/** ZenML's request models (reference/zenml-serving.md §1), validated with zod at the edge. */
import { z } from "zod";

/** `PipelineRequest`: the body of `/invoke` and the first frame of the WebSocket. */
export const pipelineRequestSchema = z.object({
  parameters: z.record(z.string(), z.unknown()).default({}),
  run_name: z.string().max(256).nullish(),
  timeout: z.number().int().min(1).max(3600).default(300),
  capture_override: z.record(z.string(), z.unknown()).nullish(),
});
export type PipelineRequest = z.output<typeof pipelineRequestSchema>;

export const jobsQuerySchema = z.object({
  status: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
