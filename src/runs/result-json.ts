/** A result as a JSON value for JSON surfaces: parsed when it is JSON, UTF-8 text otherwise. */
import type { ResultItem } from "./protocol";

const decoder = new TextDecoder();

export function resultAsJson(result: ResultItem): unknown {
  const text = decoder.decode(result.bytes);
  if (result.contentType !== "application/json") return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
