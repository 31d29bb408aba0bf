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
  if (code === "too_small" && facts.minimum !== undefined) return outOfBounds("min", facts.origin, facts.minimum, facts.inclusive !== false);
  if (code === "too_big" && facts.maximum !== undefined) return outOfBounds("max", facts.origin, facts.maximum, facts.inclusive !== false);
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

/** A value past a bound, in Pydantic's words: below a minimum (`at least`) or above a maximum (`at most`). */
function outOfBounds(side: "min" | "max", origin: string | undefined, bound: number, inclusive: boolean): { type: string; msg: string } | undefined {
  const words =
    side === "min"
      ? { than: "greater", at: "least", string: "string_too_short", list: "too_short" }
      : { than: "less", at: "most", string: "string_too_long", list: "too_long" };
  if (origin === "number" || origin === "int") {
    return inclusive
      ? { type: `${words.than}_than_equal`, msg: `Input should be ${words.than} than or equal to ${bound}` }
      : { type: `${words.than}_than`, msg: `Input should be ${words.than} than ${bound}` };
  }
  if (origin === "string") return { type: words.string, msg: `String should have at ${words.at} ${bound} ${plural(bound, "character")}` };
  if (origin === "array") return { type: words.list, msg: `List should have at ${words.at} ${bound} ${plural(bound, "item")} after validation` };
  return undefined;
}

const plural = (count: number, word: string) => (count === 1 ? word : `${word}s`);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

function withInput(entry: FastApiDetail, input: unknown): FastApiDetail {
  return input === undefined ? entry : { ...entry, input };
}
