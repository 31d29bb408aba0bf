/**
 * `bytes-upper`: takes the request body as it comes (`input: bytes`, any content type), as a
 * Numaflow pipeline gets it, and answers the same bytes with ASCII letters upper-cased. Every other
 * byte is left as it is, so any payload, text or binary, goes through.
 */
import type { StepFunction } from "../../src/pipeline/definition";

const LOWER_A = 0x61;
const LOWER_Z = 0x7a;
const CASE_BIT = 0x20;

export const upperAscii: StepFunction = (message) => {
  const bytes = message.value instanceof Uint8Array ? message.value : new TextEncoder().encode(JSON.stringify(message.value));
  return { value: bytes.map((byte) => (byte >= LOWER_A && byte <= LOWER_Z ? byte ^ CASE_BIT : byte)) };
};
