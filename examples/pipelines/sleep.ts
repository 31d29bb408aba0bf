/**
 * `sleep`: one step that waits `ms` milliseconds, then emits `{"slept": ms}`. Its request timeout is
 * 2 s, so a sync call with `ms` ≥ 2000 answers 408 while the run goes on: the pipeline that exercises
 * timeouts, fetch-after-timeout, heartbeats and recovery after eviction.
 */
import * as z from "zod";
import type { StepFunction } from "../../src/pipeline/definition";

export const MAX_SLEEP_MS = 60_000;

export const sleepInput = z.strictObject({ ms: z.number().int().min(0).max(MAX_SLEEP_MS) });

export const sleep: StepFunction = async (message, context) => {
  const { ms } = sleepInput.parse(message.value);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    context.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("sleep was interrupted"));
    });
  });
  return { value: { slept: ms } };
};
