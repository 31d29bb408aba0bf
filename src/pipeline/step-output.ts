/**
 * Turns what a step function returned into messages, checking its shape: steps are user code, and
 * a wrong return value must fail the step with a message that says what was expected.
 */
import * as z from "zod";
import type { StepReturn } from "./definition";
import type { JsonValue, Message } from "./message";

const emitSchema = z.object({
  value: z.union([z.instanceof(Uint8Array), z.json()]),
  tags: z.array(z.string()).optional(),
  keys: z.array(z.string()).optional(),
});

export class StepOutputError extends Error {
  override readonly name = "StepOutputError";
}

/** Why a step's outputs are refused: more than `max` from one invocation (the fan-out cap). */
export function fanoutProblem(count: number, max: number): string | undefined {
  return count > max ? `emitted ${count} messages from one input, over the fan-out limit of ${max} (EDGESERVE_MAX_FANOUT)` : undefined;
}

export function normaliseStepOutput(returned: StepReturn): Message[] {
  if (returned === null || returned === undefined) return [];
  const list = Array.isArray(returned) ? returned : [returned];
  return list.map((item, i) => {
    const parsed = emitSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StepOutputError(
        `output ${i} is not a message: ${issue ? `${issue.path.join(".") || "value"}: ${issue.message}` : "invalid"}; return { value, tags?, keys? } or an array of them`,
      );
    }
    const value = parsed.data.value as Uint8Array | JsonValue;
    return { value, tags: parsed.data.tags ?? [], keys: parsed.data.keys ?? [] };
  });
}
