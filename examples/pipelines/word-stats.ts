/**
 * `word-stats`, the default pipeline: normalise → count → summarise → out.
 * Result: `{"words", "unique", "top": [[word, count], …]}` with at most five entries, by count
 * descending, then by word in plain code-unit order.
 */
import * as z from "zod";
import type { StepFunction } from "../../src/pipeline/definition";

export const TOP_WORDS = 5;

export const textInput = z.strictObject({ text: z.string() });
const tokensSchema = z.object({ tokens: z.array(z.string()) });
const countsSchema = z.object({ words: z.number(), counts: z.array(z.tuple([z.string(), z.number()])) });

/** Lower-cases and splits on every run of characters that are not Unicode letters or digits. */
export const normalise: StepFunction = (message) => {
  const { text } = textInput.parse(message.value);
  const tokens = text
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length > 0);
  return { value: { tokens } };
};

/** Counts each distinct token; pairs rather than an object so no word can collide with a prototype key. */
export const count: StepFunction = (message) => {
  const { tokens } = tokensSchema.parse(message.value);
  const counts = new Map<string, number>();
  for (const token of tokens) counts.set(token, (counts.get(token) ?? 0) + 1);
  return { value: { words: tokens.length, counts: [...counts.entries()] } };
};

/** Keeps the most frequent words, ties broken by JavaScript's `<` on strings (not locale-aware). */
export const summarise: StepFunction = (message) => {
  const { words, counts } = countsSchema.parse(message.value);
  const top = [...counts].sort(([wordA, countA], [wordB, countB]) => countB - countA || (wordA < wordB ? -1 : wordA > wordB ? 1 : 0)).slice(0, TOP_WORDS);
  return { value: { words, unique: counts.length, top } };
};
