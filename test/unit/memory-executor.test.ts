/**
 * Memory-only execution (src/pipeline/memory-executor.ts): the steps run right in the Worker. The
 * deadline's timer is armed only once a step awaits something, and the request's headers are
 * worked out only when a step reads them; both are asserted through what the executor calls.
 */
import { describe, it } from "vitest";
import { z } from "zod";
import type { StepFunction } from "../../src/pipeline/definition";
import { compilePipeline } from "../../src/pipeline/graph";
import { runInMemory, type MemoryRunContext, type Timers } from "../../src/pipeline/memory-executor";
import type { JsonValue, Message } from "../../src/pipeline/message";

function pipelineOf(...runs: StepFunction[]) {
  const steps = runs.map((run, i) => ({ name: `s${i}`, kind: "inline" as const, run }));
  return compilePipeline({
    name: "demo",
    input: z.json(),
    steps: [...steps, { name: "out", kind: "sink" }],
    edges: steps.map((step, i) => ({ from: step.name, to: steps[i + 1]?.name ?? "out" })),
  });
}

const message = (value: JsonValue): Message => ({ value, tags: [], keys: [] });

function context(overrides: Partial<MemoryRunContext> = {}): MemoryRunContext {
  return { runId: "r1", headers: () => ({ "x-trace": "t1" }), timeoutMs: 5_000, maxFanout: 100, env: {}, ...overrides };
}

/** The platform's timers, with every call recorded. */
function recordingTimers() {
  const set: number[] = [];
  const cleared: ReturnType<typeof setTimeout>[] = [];
  const armed: ReturnType<typeof setTimeout>[] = [];
  const timers: Timers = {
    set: (callback, ms) => {
      set.push(ms);
      const timer = setTimeout(callback, ms);
      armed.push(timer);
      return timer;
    },
    clear: (timer) => {
      cleared.push(timer);
      clearTimeout(timer);
    },
  };
  return { timers, set, cleared, armed };
}

const double: StepFunction = (m) => ({ value: (m.value as number) * 2 });
const doubleLater: StepFunction = async (m) => ({ value: (m.value as number) * 2 });

describe("runInMemory", () => {
  it("runs the steps in order to the sink", async ({ expect }) => {
    const outcome = await runInMemory(pipelineOf(double, doubleLater, double), message(3), context());
    expect(outcome).toEqual({ status: "completed", results: [message(24)], stepsExecuted: 3 });
  });

  it("arms no timer when no step awaits", async ({ expect }) => {
    const { timers, set } = recordingTimers();
    const outcome = await runInMemory(pipelineOf(double, double), message(1), context(), timers);
    expect(outcome.status).toBe("completed");
    expect(set).toEqual([]);
  });

  it("arms one timer at the first step that awaits, for the time left, and clears it at the end", async ({ expect }) => {
    const { timers, set, armed, cleared } = recordingTimers();
    const outcome = await runInMemory(pipelineOf(double, doubleLater, doubleLater), message(1), context({ timeoutMs: 5_000 }), timers);
    expect(outcome).toEqual({ status: "completed", results: [message(8)], stepsExecuted: 3 });
    expect(set).toHaveLength(1);
    expect(set[0]).toBeGreaterThan(0);
    expect(set[0]).toBeLessThanOrEqual(5_000);
    expect(cleared).toEqual(armed);
  });

  it("waits for a step that returns a thenable that is not a Promise, as await does", async ({ expect }) => {
    const { timers, set } = recordingTimers();
    // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test returns, on purpose.
    const thenable: StepFunction = (m) => ({ then: (resolve: (v: unknown) => void) => resolve({ value: (m.value as number) + 1 }) }) as never;
    const outcome = await runInMemory(pipelineOf(thenable), message(4), context(), timers);
    expect(outcome).toEqual({ status: "completed", results: [message(5)], stepsExecuted: 1 });
    expect(set).toHaveLength(1);
  });

  it("times out when an awaiting step outlives the deadline: its signal aborts", async ({ expect }) => {
    const waitsForAbort: StepFunction = (_, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
    const outcome = await runInMemory(pipelineOf(double, waitsForAbort), message(1), context({ timeoutMs: 20 }));
    expect(outcome).toEqual({ status: "timeout" });
  });

  it("works the headers out once, and only when a step reads them", async ({ expect }) => {
    let calls = 0;
    const headers = () => {
      calls += 1;
      return { "x-trace": "t1" };
    };
    await runInMemory(pipelineOf(double, double), message(1), context({ headers }));
    expect(calls).toBe(0);

    const seen: string[] = [];
    const readsHeaders: StepFunction = (m, ctx) => {
      seen.push(ctx.headers["x-trace"] ?? "");
      return { value: m.value };
    };
    const outcome = await runInMemory(pipelineOf(readsHeaders, double, readsHeaders), message(1), context({ headers }));
    expect(outcome.status).toBe("completed");
    expect(seen).toEqual(["t1", "t1"]);
    expect(calls).toBe(1);
  });

  it("fails with the step's error, thrown at once or awaited", async ({ expect }) => {
    const throws: StepFunction = () => {
      throw new Error("bad input");
    };
    const rejects: StepFunction = async () => {
      throw new Error("bad later");
    };
    expect(await runInMemory(pipelineOf(double, throws), message(1), context())).toEqual({
      status: "failed",
      step: "s1",
      message: "step 's1' failed: bad input",
    });
    expect(await runInMemory(pipelineOf(rejects), message(1), context())).toEqual({
      status: "failed",
      step: "s0",
      message: "step 's0' failed: bad later",
    });
  });
});
