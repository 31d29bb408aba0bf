/** Queued steps in a pipeline definition: their retry policy, its backoff, and where they may not go. */
import { describe, it } from "vitest";
import { z } from "zod";
import { MAX_QUEUED_STEP_ATTEMPTS, retryPolicySchema, type PipelineDefinition } from "../../src/pipeline/definition";
import { compilePipeline } from "../../src/pipeline/graph";
import { backoffSeconds } from "../../src/pipeline/retry";

const withQueued = (step: Record<string, unknown>, extra: Partial<PipelineDefinition> = {}): PipelineDefinition =>
  ({
    name: "q",
    input: z.json(),
    steps: [
      { name: "work", kind: "queued", run: () => null, ...step },
      { name: "out", kind: "sink" },
    ],
    edges: [{ from: "work", to: "out" }],
    ...extra,
  }) as PipelineDefinition;

describe("queued step definitions", () => {
  it("defaults the retry policy to three attempts with doubling backoff from 1 s, capped at 60 s", ({ expect }) => {
    const pipeline = compilePipeline(withQueued({}));
    expect(pipeline.step("work")).toMatchObject({ retry: { maxAttempts: 3, backoffSeconds: 1, backoffMultiplier: 2, maxBackoffSeconds: 60 } });
  });

  it(`rejects more than ${MAX_QUEUED_STEP_ATTEMPTS} attempts (the stage queue's max_retries backs them)`, ({ expect }) => {
    expect(() => compilePipeline(withQueued({ retry: { maxAttempts: MAX_QUEUED_STEP_ATTEMPTS + 1 } }))).toThrow(/steps\.0\.retry\.maxAttempts/);
  });

  it("rejects a queued step in a memory-only pipeline", ({ expect }) => {
    expect(() => compilePipeline(withQueued({}, { runtime: "memory-only" }))).toThrow(
      "pipeline 'q': runtime 'memory-only' runs steps in the Worker, but step 'work' is of kind 'queued'",
    );
  });

  it("rejects a queued step without a function", ({ expect }) => {
    expect(() => compilePipeline(withQueued({ run: "count" }))).toThrow(/queued steps need a function in `run`/);
  });
});

describe("backoff", () => {
  const policy = retryPolicySchema.parse({ backoffSeconds: 1.5, backoffMultiplier: 3, maxBackoffSeconds: 30 });

  it("multiplies the delay after each failed attempt, in whole seconds, up to the cap", ({ expect }) => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffSeconds(policy, attempt))).toEqual([2, 5, 14, 30, 30]);
  });

  it("retries at once when the backoff is zero", ({ expect }) => {
    expect(backoffSeconds(retryPolicySchema.parse({ backoffSeconds: 0 }), 4)).toBe(0);
  });
});
