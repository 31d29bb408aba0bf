/**
 * Deployment-wide settings: every one is an `EDGESERVE_*` var in wrangler.toml (secrets aside),
 * validated once per isolate with errors that name the setting. `npm run dev` lets an environment
 * variable of the same name override the var (scripts/dev.mjs passes it on with `--var`).
 */
import * as z from "zod";
import { CAPTURE_MODES, DEFAULT_MAX_BYTES, DEFAULT_REDACT, DEFAULT_SAMPLE_RATE, MAX_MAX_BYTES, MIN_MAX_BYTES, RUNTIME_MODES } from "./capture/policy";
import { ApiError } from "./errors/api-error";
import { stripList } from "./http/forwarded-headers";

/** Numaflow caps the SSE keep-alive nowhere; edgeserve promises a heartbeat at least every 15 s. */
export const MAX_SSE_HEARTBEAT_SECONDS = 15;

/** Comma-separated tokens, trimmed, empty ones dropped. */
function tokenList(value: string): string[] {
  return value
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** An HTTP header name (RFC 9110 token, lower-cased), optionally ending in `*` to name a prefix. */
const HEADER_NAME_OR_PREFIX = /^[a-z0-9!#$%&'+.^_`|~-]+\*?$/;

const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const settingsSchema = z.object({
  /** The pipeline served at the root (`/v1/process/*`, `/invoke`, …). */
  EDGESERVE_DEFAULT_PIPELINE: z.string().min(1).default("word-stats"),
  /** How long a sync call waits before answering 408 (Numaflow's `requestTimeoutSeconds`, default 120). */
  EDGESERVE_REQUEST_TIMEOUT_SECONDS: seconds(1, 3600).default(120),
  /** How long a run may take in all before it fails (ZenML's default timeout is 300 s). */
  EDGESERVE_RUN_TIMEOUT_SECONDS: seconds(1, 86_400).default(300),
  /** How long a finished run's id stays reserved and its result fetchable. */
  EDGESERVE_RETENTION_SECONDS: seconds(1, 30 * 86_400).default(86_400),
  /** Request bodies over this answer 413 (Numaflow: axum's 2 MiB default). */
  EDGESERVE_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(100 * 1024 * 1024)
    .default(2 * 1024 * 1024),
  /** Interval of `: ping` comments on idle SSE streams. */
  EDGESERVE_SSE_HEARTBEAT_SECONDS: seconds(1, MAX_SSE_HEARTBEAT_SECONDS).default(MAX_SSE_HEARTBEAT_SECONDS),
  /** How long pending work may sit without progress before the Run object's alarm re-drives it. */
  EDGESERVE_WATCHDOG_SECONDS: seconds(1, 3600).default(10),
  /**
   * How long a queued step may go unheard of before its Run object sends it again: past this after
   * it was sent (no consumer took it), or past its timeout plus this after a consumer took it.
   */
  EDGESERVE_STAGE_LEASE_SECONDS: seconds(1, 3600).default(60),
  /** The request-id header (Numaflow's `msgIDHeaderKey`). */
  EDGESERVE_ID_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, "must be an HTTP header name")
    .default("X-Numaflow-Id"),
  /** Capture policy of runs whose pipeline and request set none (ZenML's ZENML_SERVING_CAPTURE_DEFAULT). */
  EDGESERVE_CAPTURE_DEFAULT: z.enum(CAPTURE_MODES).default("full"),
  /** Share of runs whose payloads are captured under `sampled`. */
  EDGESERVE_CAPTURE_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(DEFAULT_SAMPLE_RATE),
  /** Previews larger than this are truncated. */
  EDGESERVE_CAPTURE_MAX_BYTES: z.coerce.number().int().min(MIN_MAX_BYTES).max(MAX_MAX_BYTES).default(DEFAULT_MAX_BYTES),
  /** Comma-separated words; a key containing one has its value replaced by "[REDACTED]" in previews. */
  EDGESERVE_CAPTURE_REDACT: z
    .string()
    .default(DEFAULT_REDACT.join(","))
    .transform((v) =>
      v
        .split(",")
        .map((w) => w.trim().toLowerCase())
        .filter((w) => w.length > 0),
    ),
  /** How runs are indexed when their pipeline says nothing: BATCH (at the end), REALTIME (as they go), OFF. */
  EDGESERVE_CAPTURE_RUNTIME: z.enum(RUNTIME_MODES).default("REALTIME"),
  /** Runs of one pipeline executing at once (a pipeline's `admission.maxConcurrency` wins). */
  EDGESERVE_MAX_CONCURRENCY: z.coerce.number().int().min(1).max(1_000_000).default(100),
  /** Async runs of one pipeline waiting for a slot (a pipeline's `admission.maxQueueSize` wins). */
  EDGESERVE_MAX_QUEUE_SIZE: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /** Admission counter shards per pipeline; each holds an equal share of the limits. */
  EDGESERVE_ADMISSION_SHARDS: z.coerce.number().int().min(1).max(64).default(4),
  /** Messages one step invocation may emit (its outputs and, for a remote step, its messages to functions); more fails the step. */
  EDGESERVE_MAX_FANOUT: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Invocations one function address holds waiting, whatever its `maxNumBatchRequests` (also when that is ≤ 0, StateFun's "no cap"). */
  EDGESERVE_MAX_MAILBOX: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Live SSE subscribers one run may have; one more is refused with 429 `too_many_subscribers`. */
  EDGESERVE_MAX_SUBSCRIBERS: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** The Retry-After of a 429. */
  EDGESERVE_RETRY_AFTER_SECONDS: seconds(1, 3600).default(5),
  /** Origins allowed to call edgeserve from a browser (comma-separated; `*` any). Empty: no cross-origin access. */
  EDGESERVE_CORS_ORIGINS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((o) => o.trim())
        .filter((o) => o.length > 0),
    ),
  /**
   * Comma-separated header names (`x-internal-*`: every header starting so) removed from the headers
   * steps see and runs store, besides the credential headers that always are.
   */
  EDGESERVE_STRIP_HEADERS: z
    .string()
    .default("")
    .transform((v) => tokenList(v).map((name) => name.toLowerCase()))
    .pipe(z.array(z.string().regex(HEADER_NAME_OR_PREFIX, "must be a header name, or a prefix of one ending in '*'")))
    .transform(stripList),
  /** Secret: comma-separated bearer tokens; any one of them is accepted (rotation). Unset: no auth. */
  EDGESERVE_AUTH_TOKENS: z
    .string()
    // Set but naming no token (",", " "): a mistake that would silently turn auth off.
    .refine((v) => tokenList(v).length > 0, "is set but names no token; unset it to turn auth off, or list tokens separated by commas")
    .optional()
    .transform((v) => (v === undefined ? [] : tokenList(v))),
});

export type Settings = z.output<typeof settingsSchema>;

const SETTING_NAMES = Object.keys(settingsSchema.shape) as (keyof Settings)[];

/** Validated settings by the raw values they came from: each Run object gets its own `env`
 * object, and validating it again for every run would be wasted work on the hot path. */
const cache = new Map<string, Settings>();

/** Reads and validates the settings from a Worker or Durable Object `env`. */
export function loadSettings(env: object): Settings {
  // An isolate sees one env object for all its requests: found by identity, without building the key.
  const known = byEnv.get(env);
  if (known) return known;
  const settings = loadByValues(env);
  byEnv.set(env, settings);
  return settings;
}

const byEnv = new WeakMap<object, Settings>();

function loadByValues(env: object): Settings {
  const raw = env as Record<string, unknown>;
  const key = SETTING_NAMES.map((name) => String(raw[name] ?? "")).join("\u0000");
  const cached = cache.get(key);
  if (cached) return cached;
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ApiError("invalid_configuration", `edgeserve is misconfigured: ${problems}`);
  }
  cache.set(key, parsed.data);
  return parsed.data;
}
