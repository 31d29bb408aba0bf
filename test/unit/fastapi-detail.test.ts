/**
 * Validation problems worded as FastAPI (Pydantic v2) words them, from real zod issues: the
 * ZenML surface's 422 entries (src/errors/fastapi-detail.ts).
 */
import { describe, it } from "vitest";
import * as z from "zod";
import { detailsFromIssues } from "../../src/errors/api-error";
import { fastApiDetails } from "../../src/errors/fastapi-detail";

function entriesFor(schema: z.ZodType, value: unknown) {
  const parsed = schema.safeParse(value, { reportInput: true });
  if (parsed.success) throw new Error("the value was valid");
  return detailsFromIssues(parsed.error.issues).flatMap((detail) => fastApiDetails(detail, "invalid_input"));
}

describe("FastAPI's words for validation problems", () => {
  it("bounds: inclusive and exclusive, numbers, strings and lists", ({ expect }) => {
    const schema = z.strictObject({ n: z.number().gt(2).lt(5), s: z.string().max(1), l: z.array(z.number()).min(2) });
    expect(entriesFor(schema, { n: 9, s: "ab", l: [1] })).toEqual([
      { type: "less_than", loc: ["body", "n"], msg: "Input should be less than 5", input: 9 },
      { type: "string_too_long", loc: ["body", "s"], msg: "String should have at most 1 character", input: "ab" },
      { type: "too_short", loc: ["body", "l"], msg: "List should have at least 2 items after validation", input: [1] },
    ]);
    expect(entriesFor(schema, { n: 1, s: "", l: [1, 2] })).toEqual([
      { type: "greater_than", loc: ["body", "n"], msg: "Input should be greater than 2", input: 1 },
    ]);
  });

  it("types, missing fields and one entry per unknown key; a problem Pydantic has no word for keeps its own", ({ expect }) => {
    const schema = z.strictObject({ b: z.boolean(), o: z.record(z.string(), z.number()), l: z.array(z.string()), e: z.email().optional(), need: z.string() });
    expect(entriesFor(schema, { b: "yes", o: [], l: {}, e: "not-an-email", x: 1, y: null })).toEqual([
      { type: "bool_type", loc: ["body", "b"], msg: "Input should be a valid boolean", input: "yes" },
      { type: "dict_type", loc: ["body", "o"], msg: "Input should be a valid dictionary", input: [] },
      { type: "list_type", loc: ["body", "l"], msg: "Input should be a valid list", input: {} },
      { type: "invalid_format", loc: ["body", "e"], msg: "Invalid email address", input: "not-an-email" },
      { type: "missing", loc: ["body", "need"], msg: "Field required" },
      { type: "extra_forbidden", loc: ["body", "x"], msg: "Extra inputs are not permitted", input: 1 },
      { type: "extra_forbidden", loc: ["body", "y"], msg: "Extra inputs are not permitted", input: null },
    ]);
  });

  it("places a query parameter's problem in the query", ({ expect }) => {
    const parsed = z.object({ limit: z.number().int() }).safeParse({ limit: "x" }, { reportInput: true });
    if (parsed.success) throw new Error("the value was valid");
    const [detail] = detailsFromIssues(parsed.error.issues, { in: "query" });
    expect(fastApiDetails(detail!, "invalid_input")).toEqual([
      { type: "float_parsing", loc: ["query", "limit"], msg: "Input should be a valid number, unable to parse string as a number", input: "x" },
    ]);
  });
});
