/**
 * Pipelines with remote steps for the workerd tests. Their endpoints take the function server's
 * origin from EDGESERVE_FUNCTIONS_URL (vitest.config.ts) and keep their template's path, which
 * picks a fault of test/functions/server.mjs.
 */
import { z } from "zod";
import { definePipeline, type PipelineDefinition } from "../../src/pipeline/definition";
import type { EndpointSpecInput } from "../../src/remote/endpoint";

const endpoint = (path: string, extra: Partial<EndpointSpecInput> = {}): EndpointSpecInput => ({
  functions: "test/*",
  urlPathTemplate: `http://127.0.0.1:1${path}/{function.name}`,
  baseUrlEnv: "EDGESERVE_FUNCTIONS_URL",
  ...extra,
});

const spreadInput = z.strictObject({ key: z.string().min(1), n: z.number().int().min(1).max(50) });

/** `n` messages with one key to test/counter: one address, many invocations. */
function counterPipeline(name: string, ep: EndpointSpecInput, extra: { runTimeoutSeconds?: number } = {}): PipelineDefinition {
  return definePipeline({
    name,
    ...extra,
    input: spreadInput,
    endpoints: [ep],
    steps: [
      {
        name: "spread",
        kind: "inline",
        run: (m) => {
          const { key, n } = spreadInput.parse(m.value);
          return Array.from({ length: n }, (_, i) => ({ value: `m${i}`, keys: [key] }));
        },
      },
      { name: "count", kind: "remote", function: "test/counter", output: "json" },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "spread", to: "count" },
      { from: "count", to: "out" },
    ],
  });
}

/** One call of `fn` at address `key`, with the input's `field` as its argument. */
function keyedCallPipeline(name: string, fn: string, field: string, value: z.ZodType<string>): PipelineDefinition {
  const input = z.strictObject({ key: z.string().min(1), [field]: value });
  return definePipeline({
    name,
    input,
    endpoints: [endpoint("")],
    steps: [
      {
        name: "keyed",
        kind: "inline",
        run: (m) => {
          const parsed: Record<string, string> = input.parse(m.value);
          return { value: parsed[field] ?? "", keys: [parsed.key ?? ""] };
        },
      },
      { name: "count", kind: "remote", function: fn, output: "json" },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "keyed", to: "count" },
      { from: "count", to: "out" },
    ],
  });
}

/** test/big answers `size` bytes of egress: with the endpoint's payload limit, or over what an address keeps. */
function bigPipeline(name: string, ep: EndpointSpecInput): PipelineDefinition {
  return definePipeline({
    name,
    input: z.strictObject({ size: z.number().int().min(0) }),
    endpoints: [ep],
    steps: [
      { name: "size", kind: "inline", run: (m) => ({ value: (m.value as { size: number }).size }) },
      { name: "big", kind: "remote", function: "test/big", argumentType: "io.statefun.types/int", output: "json" },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "size", to: "big" },
      { from: "big", to: "out" },
    ],
  });
}

const short = { call: "1 sec", connect: "500ms", read: "500ms", write: "500ms" };

export const remotePipelines: PipelineDefinition[] = [
  counterPipeline("test-remote-counter", endpoint("")),
  counterPipeline("test-remote-backpressure", endpoint("/stall/50", { maxNumBatchRequests: 2 })),
  counterPipeline("test-remote-flaky", endpoint("/flaky/2")),
  counterPipeline("test-remote-slow", endpoint("/stall/600")),
  counterPipeline("test-remote-stall", endpoint("/stall/3000", { transport: { timeouts: short } })),
  counterPipeline("test-remote-bad-request", endpoint("/status/400")),
  counterPipeline("test-remote-unavailable", endpoint("/status/503", { transport: { timeouts: short } })),
  counterPipeline("test-remote-text", endpoint("/text")),
  // An empty answer: StateFun reads it as a result with no side effects.
  counterPipeline("test-remote-empty", endpoint("/empty")),
  // StateFun's async transport: each attempt may take what is left of `call` (no read timeout), and
  // every non-2xx answer is retried while the budget lasts.
  counterPipeline(
    "test-remote-async-slow",
    endpoint("/stall/1200", { transport: { type: "io.statefun.transports.v1/async", call: "3 sec", connect: "500ms" } }),
  ),
  counterPipeline("test-remote-async-400", endpoint("/status/400", { transport: { type: "io.statefun.transports.v1/async", call: "1 sec" } })),
  counterPipeline("test-remote-async-cut", endpoint("/cut", { transport: { type: "io.statefun.transports.v1/async", call: "1 sec" } })),
  counterPipeline("test-remote-cut", endpoint("/cut")),
  // Held at the function server while the test keeps gate `g` closed.
  counterPipeline("test-remote-gated", endpoint("/gate/g")),
  // A function server that is down (nothing listens on port 1), with a run deadline shorter than
  // a few call budgets: runs queued behind each other at one address outlive their deadlines.
  counterPipeline(
    "test-remote-down",
    { functions: "test/*", urlPathTemplate: "http://127.0.0.1:1/{function.name}", transport: { timeouts: { ...short, call: "2 sec" } } },
    { runTimeoutSeconds: 3 },
  ),
  // Gated, with StateFun's "no cap" on its mailbox: the deployment's EDGESERVE_MAX_MAILBOX (20 in vitest.config.ts) bounds it.
  counterPipeline("test-remote-uncapped", endpoint("/gate/u", { maxNumBatchRequests: 0 })),
  // test/big answering up to 32 MiB (the default limit): a 2 MB egress is over what an address keeps per outcome.
  bigPipeline("test-remote-huge", endpoint("")),
  // test/counter handed a text as large as the caller sends (up to the 2 MiB body limit).
  keyedCallPipeline("test-remote-large-argument", "test/counter", "text", z.string()),
  bigPipeline("test-remote-big", endpoint("", { transport: { payload_max_bytes: 1000 } })),
  definePipeline({
    name: "test-remote-delayed",
    input: z.strictObject({ id: z.string().min(1) }),
    endpoints: [endpoint("")],
    steps: [
      { name: "start", kind: "inline", run: (m) => ({ value: (m.value as { id: string }).id, keys: [(m.value as { id: string }).id] }) },
      { name: "delay", kind: "remote", function: "test/delayer" },
      { name: "echo", kind: "remote", function: "test/echo", output: "json", messagesOnly: true },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "start", to: "delay" },
      { from: "delay", to: "out" },
      { from: "echo", to: "out" },
    ],
  }),
  definePipeline({
    name: "test-remote-odd",
    input: z.strictObject({ what: z.string().min(1) }),
    endpoints: [endpoint("")],
    steps: [
      { name: "start", kind: "inline", run: (m) => ({ value: (m.value as { what: string }).what, keys: ["odd"] }) },
      { name: "odd", kind: "remote", function: "test/odd", output: "json" },
      { name: "echo", kind: "remote", function: "test/echo", output: "json", messagesOnly: true },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "start", to: "odd" },
      { from: "odd", to: "out" },
      { from: "echo", to: "out" },
    ],
  }),
  definePipeline({
    name: "test-remote-orphan",
    input: z.strictObject({ id: z.string().min(1) }),
    endpoints: [endpoint("")],
    steps: [
      { name: "start", kind: "inline", run: (m) => ({ value: (m.value as { id: string }).id, keys: [(m.value as { id: string }).id] }) },
      { name: "delay", kind: "remote", function: "test/delayer" },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "start", to: "delay" },
      { from: "delay", to: "out" },
    ],
  }),
  keyedCallPipeline("test-remote-two-states", "test/two-states", "mode", z.enum(["small", "big"])),
  definePipeline({
    name: "test-remote-expiring",
    input: z.strictObject({ key: z.string().min(1) }),
    endpoints: [endpoint("")],
    steps: [
      { name: "start", kind: "inline", run: (m) => ({ value: "hi", keys: [(m.value as { key: string }).key] }) },
      { name: "remember", kind: "remote", function: "test/expiring", output: "json" },
      { name: "out", kind: "sink" },
    ],
    edges: [
      { from: "start", to: "remember" },
      { from: "remember", to: "out" },
    ],
  }),
];
