/** Builds what a run needs to know about capture, from the settings, the pipeline and the request. */
import type { Pipeline } from "../pipeline/graph";
import type { CaptureRequest } from "../runs/protocol";
import type { Settings } from "../settings";
import { sampleFraction, type CapturePolicy, type CapturePolicyInput } from "./policy";

export function deploymentCapture(settings: Settings): CapturePolicy {
  return {
    mode: settings.EDGESERVE_CAPTURE_DEFAULT,
    sampleRate: settings.EDGESERVE_CAPTURE_SAMPLE_RATE,
    maxBytes: settings.EDGESERVE_CAPTURE_MAX_BYTES,
    redact: settings.EDGESERVE_CAPTURE_REDACT,
  };
}

export function runtimeOf(pipeline: Pipeline, settings: Settings) {
  return pipeline.definition.runtime ?? settings.EDGESERVE_CAPTURE_RUNTIME;
}

export async function captureRequest(settings: Settings, pipeline: Pipeline, runId: string, override?: CapturePolicyInput): Promise<CaptureRequest> {
  const runtime = runtimeOf(pipeline, settings);
  const fallback = deploymentCapture(settings);
  const modes = [fallback.mode, override?.mode, pipeline.definition.capture?.mode];
  for (const step of pipeline.definition.steps) if (step.kind !== "sink") modes.push(step.capture?.mode);
  return {
    ...(override ? { override } : {}),
    fallback,
    runtime: runtime === "memory-only" ? "OFF" : runtime,
    // Hashing costs a little on every request, so it is done only when some policy samples.
    sampleFraction: modes.includes("sampled") ? await sampleFraction(runId) : 1,
  };
}
