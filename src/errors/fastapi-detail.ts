/**
 * A validation problem worded as FastAPI words it (Pydantic v2's error types and messages), for
 * the ZenML surface's 422 answers: `{"type", "loc", "msg", "input"?}`. Problems Pydantic has no
 * word for keep edgeserve's (zod's) own.
 */
import type { ErrorDetail, IssueFacts } from "./api-error";

export interface FastApiDetail {
  type: string;
  loc: (string | number)[];
  msg: string;
  input?: unknown;
}

/** The FastAPI entries of one detail (an unrecognised-keys problem becomes one entry per key). */
export function fastApiDetails(detail: ErrorDetail, fallbackType: string): FastApiDetail[] {
  const loc = [detail.in ?? "body", ...detail.path];
  const facts = detail.facts ?? {};
  if (detail.code === "unrecognized_keys" && facts.keys) {
    const object = isRecord(facts.input) ? facts.input : {};
    return facts.keys.map((key) => withInput({ type: "extra_forbidden", loc: [...loc, key], msg: "Extra inputs are not permitted" }, object[key]));
  }
  const worded = pydanticWords(detail.code, facts);
  const entry = worded ? { ...worded, loc } : { type: detail.code ?? fallbackType, loc, msg: detail.message };
  return [withInput(entry, facts.input)];
}

function pydanticWords(code: string | undefined, facts: IssueFacts): { type: string; msg: string } | undefined {
  if (code === "invalid_type") return facts.missing ? { type: "missing", msg: "Field required" } : wrongType(facts);
  if (code === "too_small" && facts.minimum !== undefined) return tooSmall(facts.origin, facts.minimum, facts.inclusive !== false);
  if (code === "too_big" && facts.maximum !== undefined) return tooBig(facts.origin, facts.maximum, facts.inclusive !== false);
  return undefined;
}

function wrongType({ expected, input }: IssueFacts): { type: string; msg: string } | undefined {
  switch (expected) {
    case "int":
      return typeof input === "number"
        ? { type: "int_from_float", msg: "Input should be a valid integer, got a number with a fractional part" }
        : { type: "int_type", msg: "Input should be a valid integer" };
    case "number":
      return typeof input === "string"
        ? { type: "float_parsing", msg: "Input should be a valid number, unable to parse string as a number" }
        : { type: "float_type", msg: "Input should be a valid number" };
    case "string":
      return { type: "string_type", msg: "Input should be a valid string" };
    case "boolean":
      return { type: "bool_type", msg: "Input should be a valid boolean" };
    case "object":
    case "record":
      return { type: "dict_type", msg: "Input should be a valid dictionary" };
    case "array":
      return { type: "list_type", msg: "Input should be a valid list" };
    default:
      return undefined;
  }
}

function tooSmall(origin: string | undefined, minimum: number, inclusive: boolean): { type: string; msg: string } | undefined {
  if (origin === "number" || origin === "int") {
    return inclusive
      ? { type: "greater_than_equal", msg: `Input should be greater than or equal to ${minimum}` }
      : { type: "greater_than", msg: `Input should be greater than ${minimum}` };
  }
  if (origin === "string") return { type: "string_too_short", msg: `String should have at least ${minimum} ${plural(minimum, "character")}` };
  if (origin === "array") return { type: "too_short", msg: `List should have at least ${minimum} ${plural(minimum, "item")} after validation` };
  return undefined;
}

function tooBig(origin: string | undefined, maximum: number, inclusive: boolean): { type: string; msg: string } | undefined {
  if (origin === "number" || origin === "int") {
    return inclusive
      ? { type: "less_than_equal", msg: `Input should be less than or equal to ${maximum}` }
      : { type: "less_than", msg: `Input should be less than ${maximum}` };
  }
  if (origin === "string") return { type: "string_too_long", msg: `String should have at most ${maximum} ${plural(maximum, "character")}` };
  if (origin === "array") return { type: "too_long", msg: `List should have at most ${maximum} ${plural(maximum, "item")} after validation` };
  return undefined;
}

const plural = (count: number, word: string) => (count === 1 ? word : `${word}s`);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function withInput(entry: FastApiDetail, input: unknown): FastApiDetail {
  return input === undefined ? entry : { ...entry, input };
}
