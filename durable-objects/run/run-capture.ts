/**
 * The capture policy in force for one run and for each of its steps, resolved from what the Worker
 * sent (request override, deployment default, sampling value) and the pipeline's definition:
 * request override > step > pipeline > deployment default, field by field, except a step's own
 * `mode`, which comes first for that step's values (as ZenML resolves it).
 */
import { capturedValue, resolveCapture, runCapture, type RunCapture } from "../../src/capture/policy";
import type { Pipeline } from "../../src/pipeline/graph";
import type { CaptureRequest, CapturedRun, RunStatus } from "../../src/runs/protocol";

export class RunCapturePolicy {
  readonly run: RunCapture;
  private readonly steps = new Map<string, RunCapture>();

  constructor(
    private readonly request: CaptureRequest,
    private readonly pipeline: Pipeline,
  ) {
    this.run = runCapture(request.sampleFraction, resolveCapture([request.override, pipeline.definition.capture], request.fallback));
  }

  /**
   * A step's values: its own `mode` beats the request's (as ZenML resolves it), so a step that keeps
   * its values out does so whatever a request asks; every other field (redaction, sizes, sampling)
   * keeps the request's first, so a request's redaction is never undone by a step. A run under
   * `none` records no step at all.
   */
  step(name: string): RunCapture {
    let policy = this.steps.get(name);
    if (!policy) {
      const step = this.pipeline.definition.steps.find((s) => s.name === name);
      const stepPolicy = step && step.kind !== "sink" ? step.capture : undefined;
      policy =
        this.run.mode === "none"
          ? this.run
          : runCapture(this.request.sampleFraction, {
              ...resolveCapture([this.request.override, stepPolicy, this.pipeline.definition.capture], this.request.fallback),
              ...(stepPolicy?.mode !== undefined ? { mode: stepPolicy.mode } : {}),
            });
      this.steps.set(name, policy);
    }
    return policy;
  }

  /** Whether this run's payloads may be kept, given how it ended. */
  keepsPayloads(status: RunStatus): boolean {
    return this.run.payloads || (this.run.payloadsOnError && status === "failed");
  }

  /** Whether the run has a row in the D1 run index, and when it is written. */
  get indexing(): "none" | "at-end" | "as-it-goes" {
    if (!this.run.indexed || this.request.runtime === "OFF") return "none";
    return this.request.runtime === "BATCH" ? "at-end" : "as-it-goes";
  }

  describe(input: unknown, status: RunStatus): CapturedRun {
    return {
      mode: this.run.mode,
      runtime: this.request.runtime,
      payloads: this.run.payloads,
      parameters: this.keepsPayloads(status) ? capturedValue(input, this.run) : null,
    };
  }
}
