/**
 * How deeply a request's JSON may nest. Validating, capturing and storing a value walk it
 * recursively, and a value nested thousands deep overflows the stack (a 500 at the edge, or a run
 * object that can never start); no pipeline input needs more than a few dozen levels.
 */
export const JSON_MAX_DEPTH = 256;

/** Whether `value` nests deeper than `JSON_MAX_DEPTH` (walked without recursion, stopping at the first too-deep branch). */
export function nestsTooDeep(value: unknown): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== "object") continue;
    if (depth > JSON_MAX_DEPTH) return true;
    for (const inner of Array.isArray(current) ? current : Object.values(current)) {
      if (inner !== null && typeof inner === "object") stack.push([inner, depth + 1]);
    }
  }
  return false;
}

export const TOO_DEEP_MESSAGE = `the request body nests deeper than ${JSON_MAX_DEPTH} levels`;
