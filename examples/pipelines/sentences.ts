/**
 * `sentences`: split → (questions through shout) → out. One result per sentence, each
 * `{"index", "sentence", "kind"}`; questions come out upper-cased. Shows flat-map and tag routing.
 */
import * as z from "zod";
import type { StepFunction } from "../../src/pipeline/definition";

const textInput = z.strictObject({ text: z.string() });
const sentenceSchema = z.object({ index: z.number(), sentence: z.string(), kind: z.string() });

/** A sentence ends at `.`, `!` or `?` followed by whitespace or the end of the text. */
const SENTENCE_END = /[.!?](?=\s|$)/g;

export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  let start = 0;
  for (const match of text.matchAll(SENTENCE_END)) {
    const end = match.index + 1;
    sentences.push(text.slice(start, end));
    start = end;
  }
  sentences.push(text.slice(start));
  return sentences.map((s) => s.trim()).filter((s) => s.length > 0);
}

export const split: StepFunction = (message) => {
  const { text } = textInput.parse(message.value);
  return splitSentences(text).map((sentence, index) => {
    const kind = sentence.endsWith("?") ? "question" : "statement";
    return { value: { index, sentence, kind }, tags: [kind] };
  });
};

/** A whole text as one sentence, tagged `question` or `statement` (the README's `shouty` walkthrough). */
export const classify: StepFunction = (message) => {
  const { text } = textInput.parse(message.value);
  const kind = text.trim().endsWith("?") ? "question" : "statement";
  return { value: { index: 0, sentence: text, kind }, tags: [kind] };
};

export const shout: StepFunction = (message) => {
  const { index, sentence, kind } = sentenceSchema.parse(message.value);
  return { value: { index, sentence: sentence.toUpperCase(), kind }, tags: message.tags };
};
