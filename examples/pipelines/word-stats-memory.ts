/**
 * `word-stats-memory`: `word-stats` in memory-only mode, run inside the Worker with no Durable
 * Object and no storage. Sync only (Numaflow `/v1/process/sync`, ZenML `/invoke`); the fastest path.
 */
import { definePipeline } from "../../src/pipeline/definition";
import wordStats from "./word-stats";

export default definePipeline({
  ...wordStats,
  name: "word-stats-memory",
  description: "word-stats, run in the Worker's memory: sync only, nothing stored.",
  runtime: "memory-only",
});
