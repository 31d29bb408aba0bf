/**
 * Pipelines that exist only in tests: they fail, fan out and fan in on purpose. Registered in the
 * test isolate's catalog by `test/setup.ts`; the Run objects of the tests share that isolate.
 */
import { z } from "zod";
import { registerPipeline } from "../../src/catalog";
import { definePipeline } from "../../src/pipeline/definition";

const failInput = z.strictObject({ fail: z.boolean(), waitMs: z.number().int().min(0).optional() });

export const failing = definePipeline({
  name: "test-failing",
  input: failInput,
  steps: [
    { name: "check", kind: "inline", run: (m) => ({ value: m.value }) },
    {
      name: "explode",
      kind: "inline",
      run: async (m) => {
        const { fail, waitMs } = failInput.parse(m.value);
        if (waitMs) await new Promise((resolve) => setTimeout(resolve, waitMs));
        if (fail) throw new Error("exploded on purpose");
        return { value: { ok: true } };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "check", to: "explode" },
    { from: "explode", to: "out" },
  ],
});

const numbersInput = z.strictObject({ n: z.number().int().min(0).max(50) });

/** Fans out to two branches (`double`, and `keep` for even numbers only) that fan in to the sink. */
export const fanout = definePipeline({
  name: "test-fanout",
  input: numbersInput,
  steps: [
    {
      name: "spread",
      kind: "inline",
      run: (m) => {
        const { n } = numbersInput.parse(m.value);
        return Array.from({ length: n }, (_, i) => ({ value: i, tags: [i % 2 === 0 ? "even" : "odd"] }));
      },
    },
    { name: "double", kind: "inline", run: async (m) => ({ value: (m.value as number) * 2 }) },
    { name: "keep", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "spread", to: "double" },
    { from: "spread", to: "keep", conditions: { operator: "all", tags: ["even"] } },
    { from: "double", to: "out" },
    { from: "keep", to: "out" },
  ],
});

const anyObject = z.record(z.string(), z.json());

/** Echoes its input through two steps; `hidden` keeps its values out of capture (step policy). */
export const echo = definePipeline({
  name: "test-echo",
  input: anyObject,
  steps: [
    { name: "open", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "hidden", kind: "inline", run: (m) => ({ value: m.value }), capture: { mode: "metadata" } },
    { name: "out", kind: "sink" },
  ],
  edges: [
    { from: "open", to: "hidden" },
    { from: "hidden", to: "out" },
  ],
});

/** The same, with runtime OFF: runs keep their results but are not indexed. */
export const unindexed = definePipeline({ ...echo, name: "test-unindexed", runtime: "OFF" });

/** The same, with runtime BATCH: runs are indexed once, when they end. */
export const batch = definePipeline({
  ...echo,
  name: "test-batch",
  runtime: "BATCH",
  steps: [
    { name: "open", kind: "inline", run: async (m) => { await new Promise((r) => setTimeout(r, 300)); return { value: m.value }; } },
    { name: "hidden", kind: "inline", run: (m) => ({ value: m.value }) },
    { name: "out", kind: "sink" },
  ],
});

const sleepInput = z.strictObject({ ms: z.number().int().min(0).max(10_000) });

/** One run at a time, one waiting: for admission control. */
export const admission = definePipeline({
  name: "test-admission",
  input: sleepInput,
  admission: { maxConcurrency: 1, maxQueueSize: 1 },
  steps: [
    {
      name: "nap",
      kind: "inline",
      run: async (m) => {
        const { ms } = sleepInput.parse(m.value);
        await new Promise((resolve) => setTimeout(resolve, ms));
        return { value: { slept: ms } };
      },
    },
    { name: "out", kind: "sink" },
  ],
  edges: [{ from: "nap", to: "out" }],
});

export function registerTestPipelines(): void {
  for (const definition of [failing, fanout, echo, unindexed, batch, admission]) registerPipeline(definition);
}
