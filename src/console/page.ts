/**
 * The web console served at `/`: pick a pipeline, fill its input from a form generated from its
 * JSON Schema, run it sync or async, and watch the run live: the graph with each step's state, the
 * events as a timeline, the result and the timings; recent runs of this browser session. It talks
 * to the native API through the typed client (bundled by `npm run build`, served at
 * /console/client.js). Plain HTML, CSS and a module script: nothing to build by hand.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>edgeserve console</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f6f7f9; }
  body { margin: 0; }
  header { display: flex; gap: 1rem; align-items: center; padding: .75rem 1.25rem; background: #1d2330; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0 auto 0 0; }
  header a { color: #9cc3ff; }
  main { display: grid; grid-template-columns: 22rem 1fr; gap: 1rem; padding: 1rem 1.25rem; }
  section { background: #fff; border: 1px solid #dde1e8; border-radius: 8px; padding: .9rem 1rem; margin-bottom: 1rem; }
  h2 { font-size: .95rem; margin: 0 0 .6rem; text-transform: uppercase; letter-spacing: .04em; color: #596273; }
  label { display: block; font-size: .85rem; margin: .5rem 0 .2rem; }
  input, select, textarea { width: 100%; box-sizing: border-box; font: inherit; padding: .35rem .45rem; border: 1px solid #c3c9d4; border-radius: 5px; }
  textarea { min-height: 5rem; font-family: ui-monospace, monospace; font-size: .85rem; }
  button { font: inherit; padding: .4rem .9rem; border-radius: 5px; border: 1px solid #2f6fdb; background: #2f6fdb; color: #fff; cursor: pointer; margin: .6rem .4rem 0 0; }
  button.secondary { background: #fff; color: #2f6fdb; }
  .error { background: #fde8e8; border: 1px solid #f2b8b8; color: #8a1c1c; padding: .6rem .8rem; border-radius: 6px; white-space: pre-wrap; }
  .status { font-weight: 600; }
  .status.completed { color: #17803d; } .status.failed, .status.cancelled { color: #b42318; } .status.running, .status.pending { color: #b25e09; }
  svg .node rect { fill: #eef1f5; stroke: #8a93a3; rx: 6; }
  svg .node.running rect, svg .node.queued rect { fill: #fff4d6; stroke: #d89614; }
  svg .node.completed rect { fill: #dff5e6; stroke: #2e9a57; }
  svg .node.failed rect { fill: #fde1e1; stroke: #c93a3a; }
  svg .node text { font-size: 12px; text-anchor: middle; dominant-baseline: middle; }
  svg .edge { stroke: #9aa3b2; stroke-width: 1.5; fill: none; marker-end: url(#arrow); }
  ol#timeline { margin: 0; padding-left: 1.2rem; font-size: .85rem; max-height: 16rem; overflow: auto; }
  ol#timeline li { margin: .15rem 0; }
  pre { background: #f3f5f8; padding: .6rem; border-radius: 6px; overflow: auto; font-size: .85rem; margin: 0; }
  table { border-collapse: collapse; font-size: .85rem; width: 100%; }
  td, th { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #edf0f4; }
  #recent a { cursor: pointer; color: #2f6fdb; }
</style>
</head>
<body>
<header>
  <h1>edgeserve console</h1>
  <label for="token" style="margin:0">Token</label>
  <input id="token" type="password" placeholder="bearer token (if the deployment has tokens)" style="width:18rem">
  <a href="/docs">API reference</a>
</header>
<main>
  <div>
    <section>
      <h2>Pipeline</h2>
      <select id="pipeline" aria-label="pipeline"></select>
      <p id="description" style="font-size:.85rem;color:#596273"></p>
      <form id="input-form"></form>
      <button id="run-sync" type="button">Run (sync)</button>
      <button id="run-async" type="button" class="secondary">Run (async)</button>
    </section>
    <section>
      <h2>Recent runs</h2>
      <ul id="recent" style="padding-left:1.1rem;font-size:.85rem;margin:0"></ul>
    </section>
  </div>
  <div>
    <div id="error" class="error" hidden></div>
    <section>
      <h2>Run <span id="run-id" style="text-transform:none;font-weight:400"></span></h2>
      <p>Status: <span id="run-status" class="status">–</span> <span id="run-duration"></span></p>
      <svg id="graph" width="100%" height="160" role="img" aria-label="pipeline graph">
        <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#9aa3b2"/></marker></defs>
      </svg>
    </section>
    <section><h2>Result</h2><pre id="result">–</pre></section>
    <section><h2>Timings</h2><table id="timings"><tbody></tbody></table></section>
    <section><h2>Events</h2><ol id="timeline"></ol></section>
  </div>
</main>
<script type="module">
import { EdgeserveClient, EdgeserveError } from "/console/client.js";

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
tokenInput.value = sessionStorage.getItem("edgeserve-token") ?? "";
tokenInput.addEventListener("change", () => {
  if (tokenInput.value === (sessionStorage.getItem("edgeserve-token") ?? "") && current) return;
  sessionStorage.setItem("edgeserve-token", tokenInput.value);
  loadPipelines();
});
const client = () => new EdgeserveClient({ baseUrl: location.origin, token: tokenInput.value || undefined });

let current = null;       // the selected pipeline's description
let watching = null;      // the run being shown: its AbortController

function showError(error) {
  const box = $("error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = error instanceof EdgeserveError
    ? error.body.message + " (" + error.code + ", HTTP " + error.status + ")" +
      (error.body.details ? "\\n" + error.body.details.map((d) => "• " + (d.path.join(".") || "input") + ": " + d.message).join("\\n") : "")
    : String(error.message ?? error);
}

async function loadPipelines() {
  try {
    const pipelines = (await client().listPipelines()).filter((p) => p.runtime !== "memory-only");
    const select = $("pipeline");
    const chosen = select.value;
    select.replaceChildren(...pipelines.map((p) => new Option(p.name + " (v" + p.version + ")", p.name)));
    if (chosen && pipelines.some((p) => p.name === chosen)) select.value = chosen;
    showError(null);
    await choosePipeline(select.value);
  } catch (error) { showError(error); }
}

async function choosePipeline(name) {
  // Already shown: keep what the user typed.
  if (current && current.name === name && $("input-form").dataset.pipeline === name) return;
  current = await client().getPipeline(name);
  $("description").textContent = current.description;
  renderForm(current.input_schema);
  $("input-form").dataset.pipeline = name;
  drawGraph(current, {});
}

/** A field per property of an object schema; anything else is edited as JSON. */
function renderForm(schema) {
  const form = $("input-form");
  form.replaceChildren();
  const props = schema && schema.type === "object" && schema.properties ? schema.properties : null;
  if (!props) {
    form.append(field("json", "input (JSON)", Object.assign(document.createElement("textarea"), { value: "{}" })));
    return;
  }
  for (const [key, prop] of Object.entries(props)) {
    let control;
    if (prop.type === "string") control = Object.assign(document.createElement("textarea"), { rows: 3 });
    else if (prop.type === "number" || prop.type === "integer") control = Object.assign(document.createElement("input"), { type: "number", step: prop.type === "integer" ? "1" : "any" });
    else if (prop.type === "boolean") control = Object.assign(document.createElement("input"), { type: "checkbox" });
    else control = Object.assign(document.createElement("textarea"), { value: "null" });
    control.dataset.kind = prop.type ?? "json";
    form.append(field(key, key + ((schema.required ?? []).includes(key) ? " *" : ""), control));
  }
}

function field(name, text, control) {
  control.name = name;
  control.id = "field-" + name;
  const label = Object.assign(document.createElement("label"), { textContent: text, htmlFor: control.id });
  const wrap = document.createElement("div");
  wrap.append(label, control);
  return wrap;
}

function readForm() {
  const controls = [...$("input-form").elements];
  if (controls.length === 1 && controls[0].name === "json") return JSON.parse(controls[0].value);
  const input = {};
  for (const c of controls) {
    if (c.dataset.kind === "string") input[c.name] = c.value;
    else if (c.dataset.kind === "number" || c.dataset.kind === "integer") { if (c.value !== "") input[c.name] = Number(c.value); }
    else if (c.dataset.kind === "boolean") input[c.name] = c.checked;
    else input[c.name] = JSON.parse(c.value);
  }
  return input;
}

/** Steps in columns by their depth in the graph, edges as arrows, each node coloured by its state. */
function drawGraph(pipeline, states) {
  const svg = $("graph");
  [...svg.querySelectorAll(".node, .edge")].forEach((n) => n.remove());
  const depth = {};
  for (const step of pipeline.steps) depth[step.name] = 0;
  for (let changed = true; changed;) {
    changed = false;
    for (const e of pipeline.edges) if (depth[e.to] < depth[e.from] + 1) { depth[e.to] = depth[e.from] + 1; changed = true; }
  }
  const columns = {};
  for (const step of pipeline.steps) (columns[depth[step.name]] ??= []).push(step.name);
  const pos = {};
  const W = 120, H = 34, GX = 50, GY = 18;
  for (const [col, names] of Object.entries(columns)) names.forEach((n, row) => (pos[n] = { x: 10 + Number(col) * (W + GX), y: 10 + row * (H + GY) }));
  const height = Math.max(...Object.values(pos).map((p) => p.y)) + H + 12;
  svg.setAttribute("height", String(height));
  const ns = "http://www.w3.org/2000/svg";
  for (const e of pipeline.edges) {
    const a = pos[e.from], b = pos[e.to];
    const path = document.createElementNS(ns, "path");
    path.setAttribute("class", "edge");
    path.setAttribute("d", "M" + (a.x + W) + "," + (a.y + H / 2) + " L" + b.x + "," + (b.y + H / 2));
    svg.append(path);
  }
  for (const step of pipeline.steps) {
    const g = document.createElementNS(ns, "g");
    const state = states[step.name] ?? "pending";
    g.setAttribute("class", "node " + state);
    g.setAttribute("data-step", step.name);
    g.setAttribute("data-state", state);
    const rect = document.createElementNS(ns, "rect");
    Object.entries({ x: pos[step.name].x, y: pos[step.name].y, width: W, height: H }).forEach(([k, v]) => rect.setAttribute(k, String(v)));
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(pos[step.name].x + W / 2));
    label.setAttribute("y", String(pos[step.name].y + H / 2));
    label.textContent = step.name + " · " + state;
    g.append(rect, label);
    svg.append(g);
  }
}

function setStatus(status) {
  const el = $("run-status");
  el.textContent = status;
  el.className = "status " + status;
}

/** Shows a run: replays and follows its events, then its record (result, timings). */
async function watch(runId, pipelineName) {
  watching?.abort();
  const controller = new AbortController();
  watching = controller;
  if (!current || current.name !== pipelineName) { $("pipeline").value = pipelineName; await choosePipeline(pipelineName); }
  $("run-id").textContent = runId;
  $("timeline").replaceChildren();
  $("result").textContent = "–";
  $("timings").tBodies[0].replaceChildren();
  $("run-duration").textContent = "";
  setStatus("running");
  const states = {};
  drawGraph(current, states);
  try {
    for await (const event of client().events(runId, { signal: controller.signal })) {
      const li = document.createElement("li");
      li.textContent = event.at.slice(11, 23) + "  " + event.type + (event.step ? " · " + event.step : "") +
        (event.data && event.data.error ? " · " + event.data.error : "") + (event.data && event.data.message ? " · " + event.data.message : "");
      $("timeline").append(li);
      if (event.step) {
        if (event.type === "step_started" || event.type === "step_retrying") states[event.step] = "running";
        if (event.type === "step_queued") states[event.step] = "queued";
        if (event.type === "step_completed" || event.type === "result") states[event.step] = "completed";
        if (event.type === "step_failed") states[event.step] = "failed";
        drawGraph(current, states);
      }
    }
    const run = await client().getRun(runId);
    for (const [name, s] of Object.entries(run.steps)) states[name] = s.status === "queued" ? "queued" : s.status;
    drawGraph(current, states);
    setStatus(run.status);
    $("run-duration").textContent = run.duration_ms === null ? "" : "in " + run.duration_ms + " ms";
    $("result").textContent = run.results ? JSON.stringify(run.results.length === 1 ? run.results[0] : run.results, null, 2) : (run.error ? run.error.message : "–");
    const rows = Object.entries(run.steps).map(([name, s]) =>
      "<tr><td>" + name + "</td><td>" + s.status + "</td><td>" + (s.firstStartedAt && s.lastFinishedAt ? (s.lastFinishedAt - s.firstStartedAt) + " ms" : "") + "</td></tr>");
    $("timings").tBodies[0].innerHTML = rows.join("");
    remember({ id: runId, pipeline: pipelineName, status: run.status });
  } catch (error) {
    if (!controller.signal.aborted) showError(error);
  }
}

function remember(entry) {
  const recent = JSON.parse(sessionStorage.getItem("edgeserve-recent") ?? "[]").filter((r) => r.id !== entry.id);
  recent.unshift(entry);
  sessionStorage.setItem("edgeserve-recent", JSON.stringify(recent.slice(0, 10)));
  renderRecent();
}

function renderRecent() {
  const recent = JSON.parse(sessionStorage.getItem("edgeserve-recent") ?? "[]");
  $("recent").replaceChildren(...recent.map((r) => {
    const li = document.createElement("li");
    const a = Object.assign(document.createElement("a"), { textContent: r.pipeline + " · " + r.status + " · " + r.id.slice(-12) });
    a.addEventListener("click", () => watch(r.id, r.pipeline));
    li.append(a);
    return li;
  }));
}

async function start(async) {
  showError(null);
  $("run-id").textContent = "";
  setStatus("starting");
  let input;
  try { input = readForm(); } catch (error) { showError(new Error("the input is not valid JSON: " + error.message)); return; }
  try {
    const run = await client().startRun(current.name, input, { async });
    remember({ id: run.id, pipeline: current.name, status: run.status });
    await watch(run.id, current.name);
  } catch (error) { showError(error); }
}

$("pipeline").addEventListener("change", (e) => choosePipeline(e.target.value).catch(showError));
$("run-sync").addEventListener("click", () => start(false));
$("run-async").addEventListener("click", () => start(true));
renderRecent();
loadPipelines();
</script>
</body>
</html>
`;
