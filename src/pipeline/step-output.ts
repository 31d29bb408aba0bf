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
/** Whether a step returned something to wait for: a Promise, or any thenable (`await` takes both). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

export function fanoutProblem(count: number, max: number): string | undefined {
  return count > max ? `emitted ${count} messages from one input, over the fan-out limit of ${max} (EDGESERVE_MAX_FANOUT)` : undefined;
}

export function normaliseStepOutput(returned: StepReturn): Message[] {
  if (returned === null || returned === undefined) return [];
  const list = Array.isArray(returned) ? returned : [returned];
  return list.map((item, i) => plainEmit(item) ?? checkedEmit(item, i));
}

/**
 * The common case without zod: `{ value, tags?, keys? }` of plain JSON (or bytes). Runs on every
 * step output, so it is a plain walk; anything it does not recognise goes to the schema, which
 * decides and explains.
 */
function plainEmit(item: unknown): Message | undefined {
  if (typeof item !== "object" || item === null || Object.getPrototypeOf(item) !== Object.prototype) return undefined;
  const { value, tags, keys, ...rest } = item as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || value === undefined) return undefined;
  if (!(value instanceof Uint8Array) && !isPlainJson(value, 0)) return undefined;
  if ((tags !== undefined && !isStringList(tags)) || (keys !== undefined && !isStringList(keys))) return undefined;
  return { value: value as Uint8Array | JsonValue, tags: (tags as string[] | undefined) ?? [], keys: (keys as string[] | undefined) ?? [] };
}

function checkedEmit(item: unknown, i: number): Message {
  const parsed = emitSchema.safeParse(item);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new StepOutputError(
      `output ${i} is not a message: ${issue ? `${issue.path.join(".") || "value"}: ${issue.message}` : "invalid"}; return { value, tags?, keys? } or an array of them`,
    );
  }
  const value = parsed.data.value as Uint8Array | JsonValue;
  return { value, tags: parsed.data.tags ?? [], keys: parsed.data.keys ?? [] };
}

/** JSON as `z.json()` accepts it, for plain objects and arrays up to a depth; false leaves the verdict to zod. */
function isPlainJson(value: unknown, depth: number): boolean {
  if (value === null) return true;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (depth > 64) return false;
      if (Array.isArray(value)) {
        for (const element of value) if (!isPlainJson(element, depth + 1)) return false;
        return true;
      }
      if (Object.getPrototypeOf(value) !== Object.prototype) return false;
      for (const key in value) if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

function isStringList(list: unknown): boolean {
  return Array.isArray(list) && list.every((entry) => typeof entry === "string");
}
