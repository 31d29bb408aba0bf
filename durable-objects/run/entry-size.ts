/**
 * The platform's limit on one storage entry. A SQLite-backed Durable Object refuses an entry whose
 * key and value are over 2 MB (platform §1.1); local workerd does not, so `RunStore` measures every
 * entry itself and refuses it the same way, which keeps local runs and tests honest.
 */

/** The platform's limit on one entry (key and value), in bytes. */
export const ENTRY_MAX_BYTES = 2_000_000;

/** An entry refused because it is over the platform's limit. */
export class EntryTooLargeError extends Error {
  constructor(
    readonly key: string,
    readonly bytes: number,
  ) {
    super(`storage entry '${key}' would take ${bytes} bytes, over the limit of ${ENTRY_MAX_BYTES}`);
    this.name = "EntryTooLargeError";
  }
}

/**
 * Roughly the bytes a value takes serialised: strings at one byte a character, or two when any
 * character is outside Latin-1 (as V8 stores them), bytes as they are, a little per number and key.
 */
export function approximateSize(value: unknown): number {
  if (typeof value === "string") return value.length * (WIDE_CHAR.test(value) ? 2 : 1) + 2;
  if (typeof value === "number") return 9;
  if (value === null || typeof value !== "object") return 1;
  if (value instanceof Uint8Array) return value.byteLength + 4;
  let size = 2;
  if (Array.isArray(value)) {
    for (const item of value) size += approximateSize(item);
    return size;
  }
  // `for…in` rather than Object.entries: this walks every entry a burst writes, and the pairs'
  // arrays were a tenth of a run's allocations. Entries are plain objects (no inherited keys).
  const object = value as Record<string, unknown>;
  for (const key in object) {
    const item = object[key];
    if (item !== undefined) size += key.length + 1 + approximateSize(item);
  }
  return size;
}

const WIDE_CHAR = /[\u0100-\uffff]/;
