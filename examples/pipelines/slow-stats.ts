/**
 * `slow-stats`: `word-stats` with `count` as a queued step. The run's Durable Object sends the
 * tokens to the stage queue, a queue consumer counts them and reports back, and the run goes on
 * with `summarise`. Same input, same result as `word-stats`: only where `count` runs differs.
 */
import { definePipeline } from "../../src/pipeline/definition";
import wordStats, { count, normalise, summarise } from "./word-stats";

export default definePipeline({
  name: "slow-stats",
  version: "1",
  description: "word-stats with its count step run by a queue consumer, apart from the request path.",
  input: wordStats.input,
  steps: [
    { name: "normalise", kind: "inline", run: normalise },
    {
      name: "count",
      kind: "queued",
      run: count,
      timeoutSeconds: 30,
      retry: { maxAttempts: 5, backoffSeconds: 1, backoffMultiplier: 2, maxBackoffSeconds: 10 },
    },
    { name: "summarise", kind: "inline", run: summarise },
    { name: "out", kind: "sink" },
  ],
  edges: wordStats.edges,
});
