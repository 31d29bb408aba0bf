/**
 * The exact contracts of the example pipelines' steps (issue #3), tested as plain functions.
 * The same contracts are checked through HTTP in the integration and end-to-end suites.
 */
import { describe, it } from "vitest";
import type { StepContext, StepFunction } from "../../src/pipeline/definition";
import type { JsonValue } from "../../src/pipeline/message";
import { normaliseStepOutput } from "../../src/pipeline/step-output";
import { split, splitSentences } from "../../examples/pipelines/sentences";
import { count, normalise, summarise } from "../../examples/pipelines/word-stats";

const context: StepContext = { runId: "r", pipeline: "p", step: "s", headers: {}, signal: new AbortController().signal, emit: () => undefined, env: {} };

async function call(step: StepFunction, value: JsonValue) {
  return normaliseStepOutput(await step({ value, tags: [], keys: [] }, context));
}

async function wordStats(text: string): Promise<unknown> {
  const [tokens] = await call(normalise, { text });
  const [counts] = await call(count, tokens!.value as JsonValue);
  const [summary] = await call(summarise, counts!.value as JsonValue);
  return summary!.value;
}

describe("word-stats steps", () => {
  it("gives zeros and an empty top list for empty text", async ({ expect }) => {
    expect(await wordStats("")).toEqual({ words: 0, unique: 0, top: [] });
  });

  it("splits on every run of non-letters and non-digits, lower-cased", async ({ expect }) => {
    expect(await wordStats("Hello, WORLD!! hello--world 42 x2")).toEqual({
      words: 6,
      unique: 4,
      top: [
        ["hello", 2],
        ["world", 2],
        ["42", 1],
        ["x2", 1],
      ],
    });
  });

  it("keeps Unicode letters together", async ({ expect }) => {
    expect(await wordStats("Éclair éclair ÜBER über naïve")).toEqual({
      words: 5,
      unique: 3,
      top: [
        ["éclair", 2],
        ["über", 2],
        ["naïve", 1],
      ],
    });
  });

  it("breaks ties by plain code-unit order and keeps at most five", async ({ expect }) => {
    // Code-unit order puts "z" (0x7A) before "ä" (0xE4), unlike a locale-aware sort.
    expect(await wordStats("ä z b a c d e e")).toEqual({
      words: 8,
      unique: 7,
      top: [
        ["e", 2],
        ["a", 1],
        ["b", 1],
        ["c", 1],
        ["d", 1],
      ],
    });
    expect(await wordStats("ä z")).toEqual({
      words: 2,
      unique: 2,
      top: [
        ["z", 1],
        ["ä", 1],
      ],
    });
  });
});

describe("sentences steps", () => {
  it("ends a sentence at . ! or ? followed by whitespace or the end", ({ expect }) => {
    expect(splitSentences("Hi there. How are you?Fine! e.g. 3.14 is pi")).toEqual(["Hi there.", "How are you?Fine!", "e.g.", "3.14 is pi"]);
  });

  it("drops empty sentences and trims each one", ({ expect }) => {
    expect(splitSentences("  One.   \n\n Two?  ")).toEqual(["One.", "Two?"]);
    expect(splitSentences("   ")).toEqual([]);
  });

  it("tags questions and statements and numbers them from 0", async ({ expect }) => {
    const messages = await call(split, { text: "Really? Yes." });
    expect(messages.map((m) => [m.value, m.tags])).toEqual([
      [{ index: 0, sentence: "Really?", kind: "question" }, ["question"]],
      [{ index: 1, sentence: "Yes.", kind: "statement" }, ["statement"]],
    ]);
  });
});
