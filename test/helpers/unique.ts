/** A run id no other test uses, so tests sharing storage never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID()}`;
}
