/**
 * The step graph: validation of a definition's shape (missing steps, cycles, sinks) and the routing
 * of a step's output messages along its edges. Pure module: no platform imports.
 */
import {
  pipelineSchema,
  type EdgeCondition,
  type EdgeDefinition,
  type ParsedPipelineDefinition,
  type PipelineDefinition,
  type StepDefinition,
} from "./definition";
import { DROP_TAG, type Message } from "./message";
import { matchEndpoint } from "../remote/endpoint";

export class PipelineDefinitionError extends Error {
  override readonly name = "PipelineDefinitionError";
  constructor(
    message: string,
    /** Where in the definition the fault is (a manifest shows it with its line). */
    readonly path: readonly (string | number)[] = [],
    /** How to put it right. */
    readonly fix?: string,
  ) {
    super(message);
  }
}

export interface Pipeline {
  readonly definition: ParsedPipelineDefinition;
  readonly name: string;
  /** Steps that receive the run's input: those no edge leads to. */
  readonly entrySteps: readonly string[];
  step(name: string): StepDefinition;
  outEdges(step: string): readonly EdgeDefinition[];
  /** Steps in a stable topological order (for listings and status). */
  readonly order: readonly string[];
  /** The steps that do work (every step but the sinks), in that order. */
  readonly processingSteps: readonly string[];
}

/** Where a routed message goes next. */
export interface Delivery {
  from: string;
  to: string;
  message: Message;
}

/** Validates a definition and builds its graph; throws `PipelineDefinitionError` naming the fault. */
export function compilePipeline(input: PipelineDefinition): Pipeline {
  const parsed = pipelineSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join(".") : "";
    throw new PipelineDefinitionError(
      `pipeline '${String(input.name)}': ${where ? `${where}: ` : ""}${issue?.message ?? "invalid definition"}`,
      issue?.path.filter((p): p is string | number => typeof p !== "symbol") ?? [],
    );
  }
  const definition = parsed.data;
  const fail = (message: string, path: readonly (string | number)[] = [], fix?: string): never => {
    throw new PipelineDefinitionError(`pipeline '${definition.name}': ${message}`, path, fix);
  };
  const stepNames = () => definition.steps.map((s) => s.name).join(", ");
  const stepIndex = (stepName: string) => definition.steps.findIndex((s) => s.name === stepName);

  const steps = new Map<string, StepDefinition>();
  for (const step of definition.steps) {
    if (steps.has(step.name)) fail(`step '${step.name}' is defined twice`, ["steps", definition.steps.lastIndexOf(step)], "give each step its own name");
    steps.set(step.name, step);
  }
  const out = new Map<string, EdgeDefinition[]>([...steps.keys()].map((n) => [n, []]));
  const inDegree = new Map<string, number>([...steps.keys()].map((n) => [n, 0]));
  definition.edges.forEach((edge, i) => {
    const missing = (end: "from" | "to") =>
      fail(
        `edges[${i}].${end} names step '${edge[end]}', which is not defined`,
        ["edges", i, end],
        `use one of the steps (${stepNames()}), or define '${edge[end]}' under steps`,
      );
    if (!steps.has(edge.from)) missing("from");
    if (!steps.has(edge.to)) missing("to");
    if (steps.get(edge.from)?.kind === "sink")
      fail(`edges[${i}] leaves sink '${edge.from}'; a sink ends the pipeline`, ["edges", i, "from"], "remove the edge: results leave a pipeline at its sinks");
    out.get(edge.from)?.push(edge);
    inDegree.set(edge.to, (inDegree.get(edge.to) ?? 0) + 1);
  });

  const receivesInput = (n: string) => {
    const step = steps.get(n);
    return inDegree.get(n) === 0 && !(step?.kind === "remote" && step.messagesOnly);
  };
  const entrySteps = [...steps.keys()].filter(receivesInput);
  const roots = [...steps.keys()].filter((n) => inDegree.get(n) === 0);
  if (roots.length === 0)
    fail(
      "no entry step: every step has an incoming edge, so the graph has a cycle",
      ["edges"],
      "remove an edge of the cycle so that some step receives the run's input",
    );
  if (entrySteps.length === 0)
    fail("no entry step: the steps without an incoming edge all take messages from functions only", ["steps"], "let one step receive the run's input");
  for (const entry of entrySteps) {
    if (steps.get(entry)?.kind === "sink") {
      fail(
        `sink '${entry}' has no incoming edge`,
        ["steps", stepIndex(entry)],
        `it is unreachable: add an edge { from: <a step>, to: ${entry} }, or remove the sink`,
      );
    }
  }

  // Kahn's algorithm: a topological order exists exactly when the graph has no cycle.
  const remaining = new Map(inDegree);
  const queue = [...roots];
  const order: string[] = [];
  while (queue.length > 0) {
    const current = queue.shift() as string;
    order.push(current);
    for (const edge of out.get(current) ?? []) {
      const left = (remaining.get(edge.to) ?? 0) - 1;
      remaining.set(edge.to, left);
      if (left === 0) queue.push(edge.to);
    }
  }
  if (order.length !== steps.size) {
    const cycle = stepsOnCycles(out, order);
    const closing = definition.edges.findIndex((e) => cycle.includes(e.from) && cycle.includes(e.to));
    fail(
      `the edges form a cycle through ${cycle.map((n) => `'${n}'`).join(", ")}`,
      ["edges", Math.max(0, closing)],
      "remove one edge of the cycle: a pipeline is a directed acyclic graph",
    );
  }
  if (definition.runtime === "memory-only") {
    // Queued and remote steps (other kinds) need a Run object; only inline steps run in the Worker.
    const outOfProcess = [...steps.values()].find((s) => s.kind !== "inline" && s.kind !== "sink");
    if (outOfProcess) {
      fail(
        `runtime 'memory-only' runs steps in the Worker, but step '${outOfProcess.name}' is of kind '${outOfProcess.kind}'`,
        ["runtime"],
        "choose another runtime, or make every step inline",
      );
    }
  }
  if (definition.runtime === "memory-only" && definition.runHost === "journal") {
    fail(
      "runtime 'memory-only' runs in the Worker, with no run host; runHost 'journal' does not apply",
      ["runHost"],
      "remove runHost, or choose another runtime",
    );
  }
  if (definition.shards !== undefined && definition.runHost !== "journal") {
    fail("shards is the journal host's shard count", ["shards"], "remove shards, or set runHost: journal");
  }
  const served = new Map<string, number>();
  definition.endpoints.forEach((endpoint, index) => {
    const first = served.get(endpoint.functions);
    if (first !== undefined) {
      fail(
        `endpoints ${first} and ${index} both serve '${endpoint.functions}': which one a function is called at would be a guess`,
        ["endpoints", index, "functions"],
        "keep one endpoint per functions value",
      );
    }
    served.set(endpoint.functions, index);
  });
  for (const step of steps.values()) {
    if (step.kind === "remote" && !matchEndpoint(definition.endpoints, step.function)) {
      fail(
        `step '${step.name}' calls function '${step.function}', which none of the pipeline's endpoints serves`,
        ["steps", stepIndex(step.name), "function"],
        `add an endpoint whose functions is '${step.function}' or '${step.function.split("/")[0]}/*'`,
      );
    }
  }
  if (![...steps.values()].some((s) => s.kind === "sink"))
    fail("no step of kind 'sink': results could never be served", ["steps"], "add a step { name: out, kind: sink } and an edge to it");
  for (const [stepName, step] of steps) {
    if (step.kind !== "sink" && (out.get(stepName) ?? []).length === 0) {
      fail(`step '${stepName}' has no outgoing edge; connect it to a sink`, ["steps", stepIndex(stepName)], `add an edge { from: ${stepName}, to: <a sink> }`);
    }
  }

  return {
    definition,
    name: definition.name,
    entrySteps,
    order,
    processingSteps: order.filter((n) => steps.get(n)?.kind !== "sink"),
    step(stepName) {
      const step = steps.get(stepName);
      if (!step) throw new PipelineDefinitionError(`pipeline '${definition.name}' has no step '${stepName}'`);
      return step;
    },
    outEdges: (stepName) => out.get(stepName) ?? [],
  };
}

/** The steps Kahn's algorithm left over, less those that merely lead out of a cycle. */
function stepsOnCycles(out: Map<string, EdgeDefinition[]>, ordered: readonly string[]): string[] {
  const left = new Set([...out.keys()].filter((n) => !ordered.includes(n)));
  let pruned = true;
  while (pruned) {
    pruned = false;
    for (const n of left) {
      if (!(out.get(n) ?? []).some((e) => left.has(e.to))) {
        left.delete(n);
        pruned = true;
      }
    }
  }
  return [...left];
}

/** Whether a message with `tags` may pass an edge guarded by `condition` (Numaflow's and/or/not). */
export function conditionAllows(condition: EdgeCondition | undefined, tags: readonly string[]): boolean {
  if (!condition) return true;
  switch (condition.operator) {
    case "any":
      return condition.tags.some((t) => tags.includes(t));
    case "all":
      return condition.tags.every((t) => tags.includes(t));
    case "none":
      return !condition.tags.some((t) => tags.includes(t));
  }
}

/** Sends each output of `from` along every edge whose condition its tags satisfy. */
export function routeOutputs(pipeline: Pipeline, from: string, outputs: readonly Message[]): Delivery[] {
  const deliveries: Delivery[] = [];
  for (const message of outputs) {
    if (message.tags.includes(DROP_TAG)) continue;
    for (const edge of pipeline.outEdges(from)) {
      if (conditionAllows(edge.conditions, message.tags)) deliveries.push({ from, to: edge.to, message });
    }
  }
  return deliveries;
}
