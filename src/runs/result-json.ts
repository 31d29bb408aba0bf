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

/** A run's results as one JSON value: null for none, the value itself for one, a list for several. */
export function resultsAsJson(results: readonly ResultItem[]): unknown {
  if (results.length === 0) return null;
  if (results.length === 1) return resultAsJson(results[0] as ResultItem);
  return results.map(resultAsJson);
}
