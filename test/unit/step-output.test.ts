/**
 * A step's return value becomes messages: the plain walk that handles the common case must agree
 * with the schema on everything it accepts, and leave everything else to the schema's verdict.
 */
import { describe, expect, it } from "vitest";
import { normaliseStepOutput, StepOutputError } from "../../src/pipeline/step-output";
import type { StepReturn } from "../../src/pipeline/definition";

const accepted: [string, unknown, unknown][] = [
  ["a number", { value: 1 }, { value: 1, tags: [], keys: [] }],
  [
    "nested JSON with tags and keys",
    { value: { a: [1, "x", null, { b: true }] }, tags: ["t"], keys: ["k"] },
    { value: { a: [1, "x", null, { b: true }] }, tags: ["t"], keys: ["k"] },
  ],
  ["bytes", { value: new Uint8Array([1, 2]) }, { value: new Uint8Array([1, 2]), tags: [], keys: [] }],
  ["an object without a prototype (the schema decides)", { value: Object.assign(Object.create(null), { a: 1 }) }, { value: { a: 1 }, tags: [], keys: [] }],
  ["an extra key (the schema strips it)", { value: "v", extra: 1 }, { value: "v", tags: [], keys: [] }],
  ["explicitly undefined tags", { value: "v", tags: undefined }, { value: "v", tags: [], keys: [] }],
];

const refused: [string, unknown, RegExp][] = [
  ["no value", { tags: [] }, /output 0 is not a message: value/],
  ["NaN", { value: Number.NaN }, /output 0 is not a message: value/],
  ["a Date inside", { value: { at: new Date(0) } }, /output 0 is not a message: value/],
  ["undefined inside an array", { value: [1, undefined] }, /output 0 is not a message: value/],
  ["a function inside", { value: { f: () => 1 } }, /output 0 is not a message: value/],
  ["a tag that is not a string", { value: 1, tags: [1] }, /output 0 is not a message: tags\.0/],
  ["a string instead of a message", "text", /output 0 is not a message/],
];

describe("normaliseStepOutput", () => {
  it.for(accepted)("accepts %s", ([, item, expected]) => {
    expect(normaliseStepOutput(item as StepReturn)).toEqual([expected]);
  });

  it.for(refused)("refuses %s, saying why", ([, item, message]) => {
    expect(() => normaliseStepOutput(item as StepReturn)).toThrow(StepOutputError);
    expect(() => normaliseStepOutput(item as StepReturn)).toThrow(message);
  });

  it("numbers each output in a list, and reads null and undefined as no output", () => {
    expect(normaliseStepOutput(null)).toEqual([]);
    expect(normaliseStepOutput(undefined)).toEqual([]);
    expect(() => normaliseStepOutput([{ value: 1 }, { value: Number.POSITIVE_INFINITY }] as StepReturn)).toThrow(/output 1 is not a message/);
  });

  it("accepts deep JSON beyond the plain walk's depth through the schema", () => {
    let value: unknown = 1;
    for (let i = 0; i < 100; i++) value = [value];
    expect(normaliseStepOutput({ value } as StepReturn)[0]?.value).toEqual(value);
  });
});
