/** What a run id may be: visible ASCII, at most 128 characters (it names a Durable Object and appears in URLs). */
export const RUN_ID_MAX_LENGTH = 128;

const RUN_ID_PATTERN = /^[\x21-\x7e]+$/;

/** Describes what is wrong with a run id, or returns undefined when it is acceptable. */
export function runIdProblem(id: string): string | undefined {
  if (id.length === 0) return "must not be empty";
  if (id.length > RUN_ID_MAX_LENGTH) return `must be at most ${RUN_ID_MAX_LENGTH} characters`;
  if (!RUN_ID_PATTERN.test(id)) return "may contain only visible ASCII characters (no spaces or control characters)";
  return undefined;
}
