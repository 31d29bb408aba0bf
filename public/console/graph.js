// @ts-check
/**
 * The pipeline as a graph, top to bottom: steps in layers by their depth, edges as arrows. An edge
 * that skips layers goes round the steps between, on their right (so `split → out` is not hidden
 * behind `shout`); a conditional edge is dashed and labelled with its tags. Narrow enough to sit
 * beside the step timeline, and to fit a phone. Each step is one `<g data-step data-status>`.
 */
import { svg } from "./dom.js";

/** @typedef {import("./client.js").PipelineDetail} PipelineDetail */
/** @typedef {PipelineDetail["edges"][number]} Edge */
/** @typedef {{ x: number, y: number }} Point */

const W = 156; // a step's box: room for "summarise · completed"
const H = 34;
const GAP_X = 24;
const GAP_Y = 40; // room between layers for an edge's tag
const PAD = 10;
const LANE = 18; // each edge that skips layers runs in a lane of its own, right of the steps
const TAG_ROOM = 90; // right of the last lane, for its tag

/**
 * Draws the pipeline with every step pending.
 * @param {SVGSVGElement} target
 * @param {PipelineDetail} pipeline
 */
export function drawGraph(target, pipeline) {
  const depth = depths(pipeline);
  /** @type {Map<number, string[]>} */
  const layers = new Map();
  for (const step of pipeline.steps) {
    const d = depth.get(step.name) ?? 0;
    layers.set(d, [...(layers.get(d) ?? []), step.name]);
  }
  const skipping = pipeline.edges.filter((e) => (depth.get(e.to) ?? 0) - (depth.get(e.from) ?? 0) > 1);
  /** @type {Map<string, Point>} */
  const at = new Map();
  for (const [layer, names] of layers) {
    for (const [index, name] of names.entries()) at.set(name, { x: PAD + index * (W + GAP_X), y: PAD + layer * (H + GAP_Y) });
  }
  const stepsRight = PAD + Math.max(...[...layers.values()].map((names) => names.length)) * (W + GAP_X) - GAP_X;
  const width = stepsRight + (skipping.length > 0 ? LANE * skipping.length + TAG_ROOM : PAD + 60);
  const height = PAD * 2 + layers.size * (H + GAP_Y) - GAP_Y;
  target.replaceChildren(arrowDefinition());
  target.setAttribute("width", String(width));
  target.setAttribute("height", String(height));
  target.setAttribute("viewBox", `0 0 ${width} ${height}`);

  for (const edge of pipeline.edges) {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (!from || !to) continue;
    const lane = skipping.indexOf(edge);
    const route = lane >= 0 ? around(from, to, stepsRight + LANE * (lane + 1)) : line(from, to);
    const attributes = {
      class: edge.conditions ? "edge conditional" : "edge",
      d: route.d,
      "marker-end": "url(#arrow)",
      "data-edge": `${edge.from}->${edge.to}`,
    };
    target.append(svg("path", attributes));
    if (edge.conditions) {
      const tag = { class: "edge-tag", x: route.label.x, y: route.label.y, "data-edge-tag": `${edge.from}->${edge.to}` };
      target.append(svg("text", tag, [tagText(edge.conditions)]));
    }
  }
  for (const step of pipeline.steps) {
    const { x, y } = at.get(step.name) ?? { x: 0, y: 0 };
    const label = svg("text", { x: x + W / 2, y: y + H / 2 });
    target.append(
      svg("g", { class: "node pending", "data-step": step.name, "data-status": "pending" }, [
        svg("title", {}, [`${step.name} (${step.kind})`]),
        svg("rect", { x, y, width: W, height: H, rx: 6 }),
        label,
      ]),
    );
  }
  setStepStatuses(target, {});
}

/**
 * @param {SVGSVGElement} target
 * @param {Record<string, string>} statuses by step name; missing: pending
 */
export function setStepStatuses(target, statuses) {
  for (const node of target.querySelectorAll("g.node")) {
    const name = node.getAttribute("data-step") ?? "";
    const status = statuses[name] ?? "pending";
    node.setAttribute("class", `node ${status}`);
    node.setAttribute("data-status", status);
    const label = node.querySelector("text");
    if (label) label.textContent = `${name} · ${status}`;
  }
}

/** @param {NonNullable<Edge["conditions"]>} conditions */
function tagText(conditions) {
  if (conditions.operator === "all") return conditions.tags.join(" & ");
  if (conditions.operator === "none") return `not ${conditions.tags.join(" | ")}`;
  return conditions.tags.join(" | ");
}

/**
 * Each step's column: the longest path to it from a step with no inputs.
 * @param {PipelineDetail} pipeline
 */
function depths(pipeline) {
  /** @type {Map<string, number>} */
  const depth = new Map(pipeline.steps.map((s) => [s.name, 0]));
  for (let changed = true, rounds = 0; changed && rounds <= pipeline.steps.length; rounds++) {
    changed = false;
    for (const e of pipeline.edges) {
      const next = (depth.get(e.from) ?? 0) + 1;
      if ((depth.get(e.to) ?? 0) < next) {
        depth.set(e.to, next);
        changed = true;
      }
    }
  }
  return depth;
}

/**
 * From the bottom of one step to the top of the next; the tag beside the arrow's middle.
 * @param {Point} from
 * @param {Point} to
 */
function line(from, to) {
  const a = { x: from.x + W / 2, y: from.y + H };
  const b = { x: to.x + W / 2, y: to.y };
  return { d: `M${a.x},${a.y} L${b.x},${b.y}`, label: { x: (a.x + b.x) / 2 + 6, y: (a.y + b.y) / 2 + 4 } };
}

/**
 * Round the steps between: out of the source's right side, down a lane right of every step, into the
 * target's right side; the tag beside the lane.
 * @param {Point} from
 * @param {Point} to
 * @param {number} laneX
 */
function around(from, to, laneX) {
  const a = { x: from.x + W, y: from.y + H / 2 };
  const b = { x: to.x + W, y: to.y + H / 2 };
  const r = 8;
  return {
    d: `M${a.x},${a.y} L${laneX - r},${a.y} Q${laneX},${a.y} ${laneX},${a.y + r} L${laneX},${b.y - r} Q${laneX},${b.y} ${laneX - r},${b.y} L${b.x},${b.y}`,
    label: { x: laneX + 4, y: (a.y + b.y) / 2 + 4 },
  };
}

function arrowDefinition() {
  return svg("defs", {}, [
    svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, [
      svg("path", { class: "arrowhead", d: "M0,0 L10,5 L0,10 z" }),
    ]),
  ]);
}
