/**
 * Values of user-chosen size (a run's input, a work item's message, a burst's events) written so
 * no entry is over the platform's limit (entry-size.ts): as they are when small, or as their JSON
 * text in numbered `big:<key>:<n>` parts, with a marker at the value's own key.
 */
import { numberKey, type RunStore } from "./run-store";

/** Characters of JSON text per part: at two bytes a character (V8's wide strings), still under the limit. */
export const SPILL_PART_CHARS = 512 * 1024;

export const SPILLED_PREFIX = "big:";

/** What an entry written by `putSpilled` holds when its value went to parts: how many. */
interface SpillMarker {
  "big:parts": number;
}

/**
 * Writes `value` at `key`: as it is when its JSON text is at most `inlineChars` long, else as a
 * marker with the text in parts. `text` is the value's JSON when the caller has it already.
 */
export function putSpilled(store: RunStore, key: string, value: unknown, inlineChars = SPILL_PART_CHARS, text = JSON.stringify(value)): void {
  if (text.length <= inlineChars) return store.put(key, value);
  let parts = 0;
  for (let offset = 0; offset < text.length; offset += SPILL_PART_CHARS) {
    store.put(partKey(key, parts++), text.slice(offset, offset + SPILL_PART_CHARS));
  }
  store.put<SpillMarker>(key, { "big:parts": parts });
}

/** The value `putSpilled` wrote at `key`, given what the entry holds (`stored`, as read or listed). */
export function resolveSpilled<T>(store: RunStore, key: string, stored: T | SpillMarker): T {
  if (!isSpillMarker(stored)) return stored;
  let text = "";
  for (let n = 0; n < stored["big:parts"]; n++) text += store.get<string>(partKey(key, n)) ?? "";
  return JSON.parse(text) as T;
}

/** Reads `key` as `putSpilled` wrote it. */
export function getSpilled<T>(store: RunStore, key: string): T | undefined {
  const stored = store.get<T | SpillMarker>(key);
  return stored === undefined ? undefined : resolveSpilled(store, key, stored);
}

/** Deletes `key` and its parts. */
export function deleteSpilled(store: RunStore, key: string): void {
  const stored = store.get<unknown>(key);
  if (isSpillMarker(stored)) for (let n = 0; n < stored["big:parts"]; n++) store.delete(partKey(key, n));
  store.delete(key);
}

function isSpillMarker(value: unknown): value is SpillMarker {
  return typeof value === "object" && value !== null && typeof (value as Partial<SpillMarker>)["big:parts"] === "number";
}

function partKey(key: string, n: number): string {
  return numberKey(`${SPILLED_PREFIX}${key}:`, n);
}
