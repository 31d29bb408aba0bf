/**
 * The example pipelines `examples/` deploys, by name, sorted: what the manifest build, the pipeline
 * list, the console and the route fuzzer each expect to find. One list, so that adding an example
 * means changing one place. Pure: the workerd tests and the end-to-end tests (Node) both import it.
 */
export const EXAMPLE_PIPELINES = [
  "bytes-upper",
  "chat",
  "greeter",
  "sentences",
  "sleep",
  "slow-stats",
  "slow-stats-journal",
  "word-stats",
  "word-stats-journal",
  "word-stats-memory",
] as const;
