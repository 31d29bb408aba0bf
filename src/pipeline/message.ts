/**
 * Messages: what flows along the edges of a pipeline. A message carries a value (JSON, or raw bytes
 * when a step deals in bytes), optional keys (used to address per-key state) and tags (used by
 * edge conditions). Pure module: no platform imports.
 */
import * as z from "zod";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type MessageValue = JsonValue | Uint8Array;

export interface Message {
  value: MessageValue;
  tags: readonly string[];
  keys: readonly string[];
  /** The StateFun type name of a value that came from a remote function (bytes as it sent them). */
  typename?: string;
  /** The address (`namespace/type/id`) of the remote function that sent this message, if one did. */
  caller?: string;
}

/** A tag that drops a message instead of routing it, as Numaflow's `U+005C__DROP__`. */
export const DROP_TAG = "\\__DROP__";

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The bytes as UTF-8 text, or undefined when they are not UTF-8. */
export function utf8Text(bytes: Uint8Array | ArrayBuffer): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Bytes read as the value they hold: the JSON they are, else their UTF-8 text, else the bytes themselves. */
export function bytesAsValue(bytes: Uint8Array): MessageValue {
  const text = utf8Text(bytes);
  if (text === undefined) return bytes;
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/** The bytes a message's value stands for on the wire: raw bytes as they are, JSON as UTF-8 text. */
export function valueToBytes(value: MessageValue): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return encoder.encode(JSON.stringify(value));
}

/** The content type that goes with `valueToBytes`. */
export function valueContentType(value: MessageValue): string {
  return value instanceof Uint8Array ? "application/octet-stream" : "application/json";
}

/** A message in a form that JSON (and so SQLite text) can hold; bytes travel as base64. */
export type StoredMessage =
  | { v: JsonValue; t?: string[]; k?: string[]; y?: string; c?: string }
  | { b: string; t?: string[]; k?: string[]; y?: string; c?: string };

const storedTags = { t: z.array(z.string()).optional(), k: z.array(z.string()).optional(), y: z.string().optional(), c: z.string().optional() };

/** Validates a `StoredMessage` that arrives from outside the Run object (a queue, an RPC report). */
export const storedMessageSchema: z.ZodType<StoredMessage> = z.union([
  z.strictObject({ v: z.json(), ...storedTags }),
  z.strictObject({ b: z.base64(), ...storedTags }),
]);

export function storeMessage(message: Message): StoredMessage {
  const tags = message.tags.length > 0 ? { t: [...message.tags] } : {};
  const keys = message.keys.length > 0 ? { k: [...message.keys] } : {};
  const envelope = { ...(message.typename ? { y: message.typename } : {}), ...(message.caller ? { c: message.caller } : {}) };
  if (message.value instanceof Uint8Array) return { b: bytesToBase64(message.value), ...tags, ...keys, ...envelope };
  return { v: message.value, ...tags, ...keys, ...envelope };
}

export function loadMessage(stored: StoredMessage): Message {
  const value = "b" in stored ? base64ToBytes(stored.b) : stored.v;
  const message: Message = { value, tags: stored.t ?? [], keys: stored.k ?? [] };
  if (stored.y !== undefined) message.typename = stored.y;
  if (stored.c !== undefined) message.caller = stored.c;
  return message;
}

/**
 * A stored message as a step is handed it: a copy of its own (bytes are decoded anew; a JSON value
 * and the tag and key lists are cloned), so step code that changes what it is given in place does
 * not change the run's stored message, which a retry is given again and capture records.
 */
export function messageForStep(stored: StoredMessage): Message {
  const message = loadMessage(stored);
  if (!("b" in stored) && stored.v !== null && typeof stored.v === "object") message.value = structuredClone(stored.v);
  message.tags = [...message.tags];
  message.keys = [...message.keys];
  return message;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
