/**
 * Runs one step function on one message outside a Run object (the stage consumer does this), with
 * its per-attempt timeout, and checks what it returned. Pure module: no platform imports.
 */
import type { StepContext, StepFunction } from "./definition";
import type { Message } from "./message";
import { normaliseStepOutput } from "./step-output";

export class StepTimeoutError extends Error {
  override readonly name = "StepTimeoutError";
}

export async function invokeStep(
  run: StepFunction,
  message: Message,
  context: Omit<StepContext, "signal">,
  timeoutSeconds: number | undefined,
): Promise<Message[]> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (timeoutSeconds === undefined) return;
    timer = setTimeout(() => {
      controller.abort();
      reject(new StepTimeoutError(`timed out after ${timeoutSeconds} s`));
    }, timeoutSeconds * 1000);
  });
  try {
    const returned = await Promise.race([Promise.resolve(run(message, { ...context, signal: controller.signal })), timedOut]);
    return normaliseStepOutput(returned);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
