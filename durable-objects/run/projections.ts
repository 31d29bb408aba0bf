/**
 * Views of a run for its callers, computed from what the run holds: the snapshot every surface
 * describes a run with, the captured steps, Numaflow's message path, and what stream formats see.
 * Reading only: nothing here writes.
 */
import type { Pipeline } from "../../src/pipeline/graph";
import { base64ToBytes, bytesAsValue, type JsonValue, type StoredMessage } from "../../src/pipeline/message";
import type { CapturedStep, EdgeCallback, RunSnapshot } from "../../src/runs/protocol";
import { resultsAsJson } from "../../src/runs/result-json";
import { countStepsExecuted } from "../../src/runs/steps-executed";
import type { StreamContext } from "../../src/streams/format";
import type { EventLog } from "./event-log";
import type { RunCapturePolicy } from "./run-capture";
import type { RunRecord } from "./run-record";
import type { RunResults } from "./run-results";

/** What the projections read. */
export interface RunView {
  pipeline: Pipeline;
  record: RunRecord;
  capture: RunCapturePolicy;
  events: EventLog;
  results: RunResults;
}

export async function snapshotOf(run: RunView): Promise<RunSnapshot> {
  const row = run.record.row;
  const snapshot: RunSnapshot = {
    id: row.id,
    pipeline: row.pipeline,
    status: row.status,
    surface: row.surface,
    createdAt: row.createdAt,
    steps: row.steps,
    resultCount: row.resultCount,
    stepsExecuted: countStepsExecuted(run.pipeline, row.steps),
    capture: run.capture.describe(jsonInput(row.input), row.status),
    rowsWritten: row.rowsWritten,
  };
  if (row.runName !== null) snapshot.runName = row.runName;
  if (row.requestDigest !== undefined) snapshot.requestDigest = row.requestDigest;
  if (row.finishedAt !== null) snapshot.finishedAt = row.finishedAt;
  if (row.expiresAt !== null) snapshot.expiresAt = row.expiresAt;
  if (row.error !== null) snapshot.error = row.error;
  if (row.payloadsDropped) snapshot.payloadsDropped = true;
  if (row.status === "completed" && (!row.payloadsDropped || run.results.holdsAnswer)) snapshot.results = await run.results.list();
  return snapshot;
}

/** The snapshot with each step invocation's captured input and output (what capture kept). */
export async function describedSnapshotOf(run: RunView): Promise<RunSnapshot> {
  const snapshot = await snapshotOf(run);
  snapshot.capture.steps = run.events.ofTypes(["step_completed", "step_failed"]).map((event) => {
    const captured: CapturedStep = { step: event.step ?? "", status: event.type === "step_failed" ? "failed" : "completed" };
    if (event.data && "input" in event.data) captured.input = event.data.input;
    if (event.data && "output" in event.data) captured.output = event.data.output;
    return captured;
  });
  return snapshot;
}

/** One callback of the message path: an invocation that completed, or a message that reached a sink. */
interface PathNode {
  edge: EdgeCallback;
  /** The invocation's work-item key (results have none). */
  key?: string;
  /** The invocation whose output this was. */
  parent?: string;
  /** Its place among its parent's deliveries (the run's message counter when it was routed). */
  birth: number;
}

/**
 * Numaflow's message path: the edges each message travelled, with callback times, depth first as
 * Numaflow lists them: each invocation, then each of its outputs in order, down to its sink, before
 * the next output. Callbacks of runs stored before their parents were recorded come in log order.
 */
export function messageEdgesOf(run: RunView): EdgeCallback[] {
  const nodes: PathNode[] = [];
  for (const event of run.events.ofTypes(["step_completed", "result"])) {
    const { from, key, parent, seq } = event.data ?? {};
    if (typeof from !== "string" || event.step === undefined) continue;
    const node: PathNode = { edge: { from, to: event.step, cb_time: event.at }, birth: Number.POSITIVE_INFINITY };
    if (typeof key === "string") {
      node.key = key;
      node.birth = Number(key.slice(key.lastIndexOf("/") + 1));
    }
    if (typeof seq === "number") node.birth = seq;
    if (typeof parent === "string") node.parent = parent;
    nodes.push(node);
  }
  return depthFirst(nodes);
}

function depthFirst(nodes: readonly PathNode[]): EdgeCallback[] {
  const keys = new Set(nodes.flatMap((n) => (n.key === undefined ? [] : [n.key])));
  const children = new Map<string, PathNode[]>();
  const roots: PathNode[] = [];
  for (const node of nodes) {
    if (node.parent === undefined || !keys.has(node.parent)) roots.push(node);
    else children.set(node.parent, [...(children.get(node.parent) ?? []), node]);
  }
  const edges: EdgeCallback[] = [];
  // An explicit stack: a long chain of messages between functions must not overflow the call stack.
  const stack = [...roots].reverse();
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    edges.push(node.edge);
    const below = node.key === undefined ? undefined : children.get(node.key);
    if (below) stack.push(...[...below].sort((a, b) => a.birth - b.birth).reverse());
  }
  return edges;
}

/** The run as stream formats see it; read at each write, so it is always current. */
export function streamContextOf(run: RunView): StreamContext {
  const row = run.record.row;
  return {
    runId: row.id,
    pipeline: row.pipeline,
    status: row.status,
    createdAt: row.createdAt,
    steps: run.pipeline.processingSteps,
    // What capture kept, as the run's record shows it: a stream never shows what capture redacted.
    parameters: () => run.capture.describe(jsonInput(row.input), row.status).parameters,
    resultOf: (index) => run.results.getNow(index),
    results: () => resultsAsJson(run.results.listNow()),
  };
}

/**
 * The run's input as JSON, for capture, previews and streams. A raw body (`input: bytes`) reads as
 * the JSON it holds, so redaction reaches its keys (ZenML's parameters arrive so), else as its
 * text, else (not UTF-8) as its base64, as a step's captured bytes are.
 */
export function jsonInput(stored: StoredMessage): JsonValue {
  if ("v" in stored) return stored.v;
  const value = bytesAsValue(base64ToBytes(stored.b));
  return value instanceof Uint8Array ? stored.b : value;
}
