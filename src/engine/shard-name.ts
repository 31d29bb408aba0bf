/**
 * A journal run's shard, from its id alone (no catalog, no platform: the bench's sharded floor
 * picks its objects the same way).
 */

/** The name of a run's shard: `<pipeline>#<n>`, n the FNV-1a hash of the run id modulo the shard count. */
export function shardName(pipeline: string, runId: string, shards: number): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) {
    hash ^= runId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `${pipeline}#${hash % shards}`;
}
