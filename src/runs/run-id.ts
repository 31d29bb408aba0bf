/** What a run id may be: visible ASCII, at most 128 characters (it names a Durable Object and appears in URLs). */
export const RUN_ID_MAX_LENGTH = 128;

const RUN_ID_PATTERN = /^[\x21-\x7e]+$/;

/**
 * Native run ids carry their pipeline (`<pipeline>~<id>`), so `/v1/runs/{id}` finds the run's
 * object at once. Only native ids contain it: ids from the Numaflow and ZenML surfaces may not,
 * so none of them can name (read, claim in advance or cancel) a native run.
 */
export const NATIVE_ID_SEPARATOR = "~";

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
