/**
 * Memory-only execution: runs a pipeline whose steps are all inline directly in the Worker, with
 * no Durable Object, no storage and no events (ZenML's memory-only capture mode). The fastest sync
 * path; nothing of the run survives the request. Pure module: no platform imports.
 */
import { ignoreDelta, type StepContext } from "./definition";
import { routeOutputs, type Pipeline } from "./graph";
import type { Message } from "./message";
import { fanoutProblem, normaliseStepOutput } from "./step-output";

export type MemoryOutcome = { status: "completed"; results: Message[] } | { status: "failed"; step: string; message: string } | { status: "timeout" };

interface Pending {
  step: string;
  message: Message;
}

export async function runInMemory(
  pipeline: Pipeline,
  input: Message,
  context: { runId: string; headers: Record<string, string>; timeoutMs: number; maxFanout: number; env: Readonly<Record<string, unknown>> },
): Promise<MemoryOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), context.timeoutMs);
  try {
    const results: Message[] = [];
    let wave: Pending[] = pipeline.entrySteps.map((step) => ({ step, message: input }));
    while (wave.length > 0) {
      if (controller.signal.aborted) return { status: "timeout" };
      const next: Pending[] = [];
      for (const { step, message } of wave) {
        const definition = pipeline.step(step);
        if (definition.kind !== "inline") return { status: "failed", step, message: `step '${step}' is not inline` };
        const stepContext: StepContext = {
          runId: context.runId,
          pipeline: pipeline.name,
          step,
          headers: context.headers,
          signal: controller.signal,
          emit: ignoreDelta,
          env: context.env,
        };
        let outputs: Message[];
        try {
          outputs = normaliseStepOutput(await definition.run(message, stepContext));
        } catch (error) {
          if (controller.signal.aborted) return { status: "timeout" };
          return { status: "failed", step, message: `step '${step}' failed: ${error instanceof Error ? error.message : String(error)}` };
        }
        const tooMany = fanoutProblem(outputs.length, context.maxFanout);
        if (tooMany) return { status: "failed", step, message: `step '${step}' failed: ${tooMany}` };
        for (const delivery of routeOutputs(pipeline, step, outputs)) {
          if (pipeline.step(delivery.to).kind === "sink") results.push(delivery.message);
          else next.push({ step: delivery.to, message: delivery.message });
        }
      }
      wave = next;
    }
    return { status: "completed", results };
  } finally {
    clearTimeout(timer);
  }
}
