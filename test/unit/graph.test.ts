/**
 * The pure step graph: what a valid definition is, and how output messages are routed along edges
 * by their tags. Proves the routing rules; does not run any step (see the Run object tests).
 */
import { describe, it } from "vitest";
import { z } from "zod";
import type { PipelineDefinition } from "../../src/pipeline/definition";
import { compilePipeline, conditionAllows, routeOutputs } from "../../src/pipeline/graph";
import { DROP_TAG } from "../../src/pipeline/message";

const pass = () => null;

function definition(overrides: Partial<PipelineDefinition>): PipelineDefinition {
  return {
    name: "demo",
    input: z.json(),
    steps: [
      { name: "a", kind: "inline", run: pass },
      { name: "b", kind: "inline", run: pass },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "a", to: "b" },
      { from: "b", to: "out" },
    ],
    ...overrides,
  };
}

describe("compilePipeline", () => {
  it("finds the entry steps and a topological order", ({ expect }) => {
    const pipeline = compilePipeline(definition({}));
    expect(pipeline.entrySteps).toEqual(["a"]);
    expect(pipeline.order).toEqual(["a", "b", "out"]);
  });

  it("rejects an edge to a step that is not defined, naming the edge", ({ expect }) => {
    expect(() =>
      compilePipeline(
        definition({
          edges: [
            { from: "a", to: "nope" },
            { from: "b", to: "out" },
          ],
        }),
      ),
    ).toThrow("edges[0].to names step 'nope', which is not defined");
  });

  it("rejects a cycle, naming the steps on it", ({ expect }) => {
    const edges = [
      { from: "a", to: "b" },
      { from: "b", to: "c" },
      { from: "c", to: "b" },
      { from: "c", to: "out" },
    ];
    const steps = [...definition({}).steps, { name: "c", kind: "inline" as const, run: pass }];
    expect(() => compilePipeline(definition({ steps, edges }))).toThrow("the edges form a cycle through 'b', 'c'");
  });

  it("rejects a pipeline without a sink", ({ expect }) => {
    const steps = [{ name: "a", kind: "inline" as const, run: pass }];
    expect(() => compilePipeline(definition({ steps, edges: [] }))).toThrow("no step of kind 'sink'");
  });

  it("rejects an edge that leaves a sink", ({ expect }) => {
    const edges = [...definition({}).edges, { from: "out", to: "b" }];
    expect(() => compilePipeline(definition({ edges }))).toThrow("leaves sink 'out'");
  });

  it("rejects a step that leads nowhere", ({ expect }) => {
    const steps = [...definition({}).steps, { name: "c", kind: "inline" as const, run: pass }];
    const edges = [...definition({}).edges, { from: "a", to: "c" }];
    expect(() => compilePipeline(definition({ steps, edges }))).toThrow("step 'c' has no outgoing edge");
  });

  it("rejects a step defined twice", ({ expect }) => {
    const steps = [...definition({}).steps, { name: "a", kind: "inline" as const, run: pass }];
    expect(() => compilePipeline(definition({ steps }))).toThrow("step 'a' is defined twice");
  });

  it("rejects unknown fields in the definition", ({ expect }) => {
    expect(() => compilePipeline({ ...definition({}), colour: "red" } as PipelineDefinition)).toThrow(/colour/);
  });
});

describe("conditionAllows", () => {
  it("passes every message when the edge has no condition", ({ expect }) => {
    expect(conditionAllows(undefined, [])).toBe(true);
  });

  it("any: passes when at least one listed tag is present", ({ expect }) => {
    const condition = { operator: "any" as const, tags: ["x", "y"] };
    expect(conditionAllows(condition, ["y"])).toBe(true);
    expect(conditionAllows(condition, ["z"])).toBe(false);
    expect(conditionAllows(condition, [])).toBe(false);
  });

  it("all: passes only when every listed tag is present", ({ expect }) => {
    const condition = { operator: "all" as const, tags: ["x", "y"] };
    expect(conditionAllows(condition, ["x", "y", "z"])).toBe(true);
    expect(conditionAllows(condition, ["x"])).toBe(false);
  });

  it("none: passes only when no listed tag is present, including untagged messages", ({ expect }) => {
    const condition = { operator: "none" as const, tags: ["x"] };
    expect(conditionAllows(condition, [])).toBe(true);
    expect(conditionAllows(condition, ["y"])).toBe(true);
    expect(conditionAllows(condition, ["x"])).toBe(false);
  });
});

describe("routeOutputs", () => {
  const pipeline = compilePipeline(
    definition({
      steps: [
        { name: "a", kind: "inline", run: pass },
        { name: "b", kind: "inline", run: pass },
        { name: "c", kind: "inline", run: pass },
        { name: "out", kind: "sink" },
      ],
      edges: [
        { from: "a", to: "b", conditions: { operator: "any", tags: ["left"] } },
        { from: "a", to: "c" },
        { from: "b", to: "out" },
        { from: "c", to: "out" },
      ],
    }),
  );

  it("fans a message out to every edge whose condition it meets", ({ expect }) => {
    const deliveries = routeOutputs(pipeline, "a", [{ value: 1, tags: ["left"], keys: [] }]);
    expect(deliveries.map((d) => d.to)).toEqual(["b", "c"]);
  });

  it("routes each of several outputs on its own tags", ({ expect }) => {
    const deliveries = routeOutputs(pipeline, "a", [
      { value: 1, tags: [], keys: [] },
      { value: 2, tags: ["left"], keys: [] },
    ]);
    expect(deliveries.map((d) => [d.message.value, d.to])).toEqual([
      [1, "c"],
      [2, "b"],
      [2, "c"],
    ]);
  });

  it("drops a message tagged with the drop tag", ({ expect }) => {
    expect(routeOutputs(pipeline, "a", [{ value: 1, tags: [DROP_TAG], keys: [] }])).toEqual([]);
  });
});
