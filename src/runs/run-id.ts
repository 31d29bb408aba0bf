/** What a run id may be: visible ASCII, at most 128 characters (it names a Durable Object and appears in URLs). */
export const RUN_ID_MAX_LENGTH = 128;

const RUN_ID_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Native run ids carry their pipeline (`<pipeline>~<id>`), so `/v1/runs/{id}` finds the run's
 * object at once. Only native ids contain it: ids from the Numaflow and ZenML surfaces may not,
 * so none of them can name (read, claim in advance or cancel) a native run.
 */
export const NATIVE_ID_SEPARATOR = "~";

/**
 * A native run id the server generated carries its Run object's id (`<pipeline>~<64 hex>`, from
 * `newUniqueId()`), so its object is reached without the global name check a named object's first
 * access pays. Client-chosen ids (Numaflow's, Idempotency-Keys', and ZenML's UUID job ids) are names.
 */
const CARRIED_OBJECT_ID = /^[0-9a-f]{64}$/;

/** The Run object id a native run id carries, if it carries one. */
export function carriedObjectId(pipeline: string, runId: string): string | undefined {
  const prefix = `${pipeline}${NATIVE_ID_SEPARATOR}`;
  if (!runId.startsWith(prefix)) return undefined;
  const rest = runId.slice(prefix.length);
  return CARRIED_OBJECT_ID.test(rest) ? rest : undefined;
}

/** Describes what is wrong with a run id, or returns undefined when it is acceptable. */
export function runIdProblem(id: string): string | undefined {
  if (id.length === 0) return "must not be empty";
  if (id.length > RUN_ID_MAX_LENGTH) return `must be at most ${RUN_ID_MAX_LENGTH} characters`;
  if (!RUN_ID_PATTERN.test(id)) return "may contain only visible ASCII characters (no spaces or control characters)";
  return undefined;
}

/** As `runIdProblem`, for an id a Numaflow or ZenML client gave: it may not contain `~` either. */
export function surfaceRunIdProblem(id: string): string | undefined {
  if (id.includes(NATIVE_ID_SEPARATOR)) return `may not contain '${NATIVE_ID_SEPARATOR}' (it is reserved for native run ids)`;
  return runIdProblem(id);
}
