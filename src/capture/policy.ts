/**
 * Capture: what a run records about itself (ZenML's capture policies, reference/zenml-serving.md
 * §5). A policy has a mode (full, sampled, errors_only, metadata, none), a sample rate, a preview
 * size limit and the keys to redact; the runtime mode (BATCH, REALTIME, OFF, memory-only) says how
 * the run is indexed, or whether it runs in a Durable Object at all. Pure module.
 */
import * as z from "zod";

export const CAPTURE_MODES = ["full", "sampled", "errors_only", "metadata", "none"] as const;
export type CaptureMode = (typeof CAPTURE_MODES)[number];

export const RUNTIME_MODES = ["BATCH", "REALTIME", "OFF", "memory-only"] as const;
export type RuntimeMode = (typeof RUNTIME_MODES)[number];

/** ZenML's server defaults. */
export const DEFAULT_SAMPLE_RATE = 0.1;
export const DEFAULT_MAX_BYTES = 262_144;
export const MIN_MAX_BYTES = 1024;
export const MAX_MAX_BYTES = 10_485_760;
export const DEFAULT_REDACT = ["password", "token", "key", "secret", "auth", "credential"] as const;

/** A partial policy, as a pipeline, a step or a request's `capture_override` states it. */
export const capturePolicyInputSchema = z.strictObject({
  mode: z.enum(CAPTURE_MODES).optional(),
  sample_rate: z.number().min(0).max(1).optional(),
  max_bytes: z.number().int().min(MIN_MAX_BYTES).max(MAX_MAX_BYTES).optional(),
  redact: z.array(z.string().min(1)).optional(),
});
export type CapturePolicyInput = z.infer<typeof capturePolicyInputSchema>;

export interface CapturePolicy {
  mode: CaptureMode;
  sampleRate: number;
  maxBytes: number;
  redact: readonly string[];
}

/** The policy a run records under, once sampling has been decided for its id. */
export interface RunCapture extends CapturePolicy {
  /** Whether payloads are captured for this run (full, or sampled and chosen). */
  payloads: boolean;
  /** Whether payloads are captured only if the run fails (errors_only). */
  payloadsOnError: boolean;
  /** Whether the run appears in the run index at all (not under `none`). */
  indexed: boolean;
}

/**
 * Resolves a policy from its layers, the first one winning, field by field, over the deployment
 * default: request override > step > pipeline (a step's own `mode` then comes first for its
 * values: durable-objects/run/run-capture.ts).
 */
export function resolveCapture(layers: readonly (CapturePolicyInput | undefined)[], fallback: CapturePolicy): CapturePolicy {
  const policy = { ...fallback };
  for (const layer of [...layers].reverse()) {
    if (!layer) continue;
    if (layer.mode !== undefined) policy.mode = layer.mode;
    if (layer.sample_rate !== undefined) policy.sampleRate = layer.sample_rate;
    if (layer.max_bytes !== undefined) policy.maxBytes = layer.max_bytes;
    if (layer.redact !== undefined) policy.redact = layer.redact.map((k) => k.toLowerCase());
  }
  return policy;
}

/**
 * ZenML's sampling value: the first 4 bytes of SHA-1(run id) as a big-endian integer, over 2³².
 * A run is sampled when this is below the rate, so the same id is always decided the same way.
 */
export async function sampleFraction(runId: string): Promise<number> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(runId));
  return new DataView(digest).getUint32(0, false) / 2 ** 32;
}

export function isSampled(fraction: number, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return fraction < rate;
}

export function runCapture(fraction: number, policy: CapturePolicy): RunCapture {
  const payloads = policy.mode === "full" || (policy.mode === "sampled" && isSampled(fraction, policy.sampleRate));
  return { ...policy, payloads, payloadsOnError: policy.mode === "errors_only", indexed: policy.mode !== "none" };
}

export const REDACTED = "[REDACTED]";

/**
 * Replaces the value of every key that has a redacted word among its own words, case-insensitively,
 * in nested objects and lists too: `api_token`, `apiKey` and `x-auth` are redacted, `tokens`,
 * `keyboard` and `author` are not. (ZenML matches substrings; README "Capture" says why not here.)
 * What has nothing to redact is returned as it is, not copied.
 */
export function redact(value: unknown, words: readonly string[]): unknown {
  return redactWith(value, wordsOf(words));
}

interface RedactWords {
  segments: string[][];
  /** Each word's first segment: a key whose lower-cased text contains none of them cannot match (a cheap test before splitting). */
  firsts: string[];
}

/**
 * Split word lists, by their text: each run resolves its policy into new arrays, and the lists
 * themselves are few (a deployment's policies), so keying by content keeps the split to once per
 * list and isolate. Bounded in case a caller's overrides vary without end.
 */
const wordsCache = new Map<string, RedactWords>();
const WORDS_CACHE_MAX = 64;

function wordsOf(words: readonly string[]): RedactWords {
  const key = JSON.stringify(words);
  let cached = wordsCache.get(key);
  if (!cached) {
    const segments = words.map(segmentsOf).filter((w) => w.length > 0);
    cached = { segments, firsts: segments.map((w) => w[0]!) };
    if (wordsCache.size >= WORDS_CACHE_MAX) wordsCache.clear();
    wordsCache.set(key, cached);
  }
  return cached;
}

function redactWith(value: unknown, words: RedactWords): unknown {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const inner = redactWith(value[i], words);
      if (inner !== value[i]) (copy ??= value.slice())[i] = inner;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  const object = value as Record<string, unknown>;
  for (const key in object) {
    if (!Object.hasOwn(object, key)) continue;
    const inner = object[key];
    const replaced = isRedactedKey(key, words) ? REDACTED : redactWith(inner, words);
    if (replaced !== inner) (copy ??= { ...object })[key] = replaced;
  }
  return copy ?? value;
}

function isRedactedKey(key: string, words: RedactWords): boolean {
  const lower = key.toLowerCase();
  if (!words.firsts.some((first) => lower.includes(first))) return false;
  const segments = segmentsOf(key);
  return words.segments.some((word) => containsRun(segments, word));
}

/** A key's words, lower-cased: split at every non-alphanumeric and at camelCase humps (`apiKey` → api, key). */
function segmentsOf(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((s) => s.length > 0);
}

/** Whether `word`'s segments appear, in order and together, among `segments`. */
function containsRun(segments: readonly string[], word: readonly string[]): boolean {
  if (word.length === 0) return false;
  for (let start = 0; start + word.length <= segments.length; start++) {
    if (word.every((w, i) => segments[start + i] === w)) return true;
  }
  return false;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Room kept for the truncation marker, as ZenML does. */
const TRUNCATION_RESERVE_BYTES = 50;

/** A redacted JSON preview, cut to `maxBytes` with ZenML's marker when it is larger. */
export function preview(value: unknown, policy: Pick<CapturePolicy, "maxBytes" | "redact">): string {
  const text = JSON.stringify(redact(value, policy.redact)) ?? "null";
  return fitsBytes(text, policy.maxBytes) ? text : truncated(text, policy.maxBytes);
}

/**
 * A value as capture shows it: redacted, and replaced by its truncated preview text when too large.
 * Always a copy of its own (parsed back from the preview), so a step that later changes the value
 * in place does not change what was captured.
 */
export function capturedValue(value: unknown, policy: Pick<CapturePolicy, "maxBytes" | "redact">): unknown {
  const text = JSON.stringify(redact(value, policy.redact)) ?? "null";
  return fitsBytes(text, policy.maxBytes) ? JSON.parse(text) : truncated(text, policy.maxBytes);
}

/** Whether `text` is at most `maxBytes` in UTF-8 (without encoding it when it surely is). */
function fitsBytes(text: string, maxBytes: number): boolean {
  return text.length * 3 <= maxBytes || encoder.encode(text).length <= maxBytes;
}

function truncated(text: string, maxBytes: number): string {
  // Decoding a cut that splits a character would leave U+FFFD; drop the partial character instead.
  const kept = decoder.decode(encoder.encode(text).subarray(0, maxBytes - TRUNCATION_RESERVE_BYTES)).replace(/\uFFFD$/, "");
  return `${kept}... [TRUNCATED - original size: ${text.length} chars]`;
}
