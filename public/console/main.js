// @ts-check
/**
 * The web console (public/index.html): pick a pipeline, fill the form made from its input schema,
 * run it sync or async, and watch the run live. A run has a URL, `/?pipeline=<name>&run=<id>`,
 * that opens its live view directly, whichever surface started it.
 */
import { cancelRun, client, runHref, runInMemory } from "./api.js";
import { EdgeserveError } from "./client.js";
import { element } from "./dom.js";
import { readForm, renderForm } from "./form.js";
import { followRun, isFinal } from "./live.js";
import { rememberRun, renderRecent } from "./recent.js";
import { RunView } from "./run-view.js";
import { forgetToken, showForgetButton } from "./token.js";

/** @typedef {import("./client.js").PipelineDetail} PipelineDetail */
/** @typedef {import("./client.js").PipelineSummary} PipelineSummary */

const select = element("pipeline", HTMLSelectElement);
const form = element("input-form", HTMLFormElement);
const runSync = element("run-sync", HTMLButtonElement);
const runAsync = element("run-async", HTMLButtonElement);
const recent = element("recent", HTMLUListElement);
const errorBox = element("error", HTMLElement);
const view = new RunView();

/** @type {Map<string, Promise<PipelineDetail>>} */
const details = new Map();
/** @type {PipelineDetail | null} the pipeline of the form */
let chosen = null;
/** @type {AbortController | null} the run being followed */
let following = null;
let starting = false;

/** @param {string} name */
function pipelineDetail(name) {
  let detail = details.get(name);
  if (!detail) {
    detail = client.getPipeline(name);
    detail.catch(() => details.delete(name));
    details.set(name, detail);
  }
  return detail;
}

/** @param {unknown} error null hides the box */
function showError(error) {
  errorBox.hidden = error === null;
  if (error === null) errorBox.textContent = "";
  else if (error instanceof EdgeserveError) {
    const details = (error.body.details ?? []).map((d) => `\n• ${d.path.join(".") || "input"}: ${d.message}`);
    errorBox.textContent = `${error.body.message} (${error.code}, HTTP ${error.status})${details.join("")}`;
  } else errorBox.textContent = error instanceof Error ? error.message : String(error);
}

function enableRunButtons() {
  const memoryOnly = chosen?.runtime === "memory-only";
  runSync.disabled = starting || chosen === null;
  runAsync.disabled = starting || chosen === null || memoryOnly;
  runAsync.title = memoryOnly ? "a memory-only pipeline runs sync only: its runs are not stored" : "";
}

/** @param {string} name */
async function choosePipeline(name) {
  select.value = name;
  const detail = await pipelineDetail(name);
  if (chosen?.name === name && form.dataset.pipeline === name) return; // shown already: keep what was typed
  chosen = detail;
  element("description", HTMLElement).textContent = detail.description + (detail.runtime === "memory-only" ? " (memory-only: sync runs only)" : "");
  renderForm(form, detail.input_schema);
  form.dataset.pipeline = name;
  enableRunButtons();
  if (view.shown === null && !starting) view.reset(detail, null, "none");
}

/**
 * Shows a run and follows it to its end.
 * @param {string} pipeline
 * @param {string} id
 * @param {{ push: boolean }} options push: a new history entry (the run's URL)
 */
async function openRun(pipeline, id, options) {
  following?.abort();
  const controller = new AbortController();
  following = controller;
  if (options.push) history.pushState(null, "", runHref(pipeline, id));
  view.reset(await pipelineDetail(pipeline), id, "unknown");
  if (controller.signal.aborted) return;
  const follower = {
    /** @param {import("./client.js").RunRecord} record */
    onRecord: (record) => {
      view.applyRecord(record);
      if (isFinal(record.status)) rememberRun({ id, pipeline, status: record.status }, recent);
    },
    /** @param {import("./client.js").RunEvent} event */
    onEvent: (event) => view.applyEvent(event),
    /** @param {"connecting" | "live" | "reconnecting" | "ended"} state */
    onConnection: (state) => view.setConnection(state),
    onError: showError,
  };
  await followRun(pipeline, id, follower, controller.signal);
}

/** @param {boolean} async */
async function start(async) {
  if (starting || chosen === null) return;
  const pipeline = chosen;
  showError(null);
  /** @type {unknown} */
  let input;
  try {
    input = readForm(form);
  } catch (error) {
    showError(new Error(`the input is not valid JSON: ${error instanceof Error ? error.message : String(error)}`));
    return;
  }
  starting = true;
  enableRunButtons();
  following?.abort();
  view.reset(pipeline, null, "starting");
  try {
    if (pipeline.runtime === "memory-only") {
      const outcome = await runInMemory(pipeline.name, input);
      view.showMemoryOnly(pipeline, outcome.id, outcome.results);
      history.pushState(null, "", `/?pipeline=${encodeURIComponent(pipeline.name)}`);
      return;
    }
    const run = await client.startRun(pipeline.name, input, { async });
    rememberRun({ id: run.id, pipeline: pipeline.name, status: run.status }, recent);
    void openRun(pipeline.name, run.id, { push: true }).catch(showError);
  } catch (error) {
    view.setStatus("none");
    showError(error);
  } finally {
    starting = false;
    enableRunButtons();
  }
}

/** What the URL asks for: a run (its live view), or a pipeline. */
async function openFromUrl() {
  const params = new URLSearchParams(location.search);
  const pipeline = params.get("pipeline");
  const run = params.get("run");
  if (pipeline && run) {
    await choosePipeline(pipeline);
    await openRun(pipeline, run, { push: false });
    return;
  }
  following?.abort();
  view.shown = null;
  const name = pipeline ?? defaultPipeline?.name ?? select.options[0]?.value;
  if (name) {
    await choosePipeline(name);
    view.reset(await pipelineDetail(name), null, "none");
  }
}

/** @type {PipelineSummary | undefined} */
let defaultPipeline;

async function boot() {
  showForgetButton();
  renderRecent(recent);
  const pipelines = await client.listPipelines();
  defaultPipeline = pipelines.find((p) => p.default) ?? pipelines[0];
  select.replaceChildren(
    ...pipelines.map(
      (p) => new Option(`${p.name} (v${p.version})${p.default ? " · default" : ""}${p.runtime === "memory-only" ? " · memory-only" : ""}`, p.name),
    ),
  );
  await openFromUrl();
}

select.addEventListener("change", () => {
  showError(null);
  history.replaceState(null, "", `/?pipeline=${encodeURIComponent(select.value)}`);
  following?.abort();
  view.shown = null;
  choosePipeline(select.value).catch(showError);
});
runSync.addEventListener("click", () => start(false));
runAsync.addEventListener("click", () => start(true));
element("token-forget", HTMLButtonElement).addEventListener("click", forgetToken);
view.cancel.addEventListener("click", async () => {
  const shown = view.shown;
  if (!shown) return;
  view.cancel.disabled = true;
  try {
    view.applyRecord(await cancelRun(shown.pipeline, shown.id));
  } catch (error) {
    // Ended meanwhile: the live view shows how.
    if (!(error instanceof EdgeserveError && error.code === "run_finished")) {
      showError(error);
      view.cancel.disabled = false;
    }
  }
});
// Links to runs (recent runs, the run's own link) open in place; a modified click opens a new tab.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[href^='/?']") : null;
  if (!(link instanceof HTMLAnchorElement) || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const params = new URL(link.href).searchParams;
  const pipeline = params.get("pipeline");
  const run = params.get("run");
  if (!pipeline || !run) return;
  event.preventDefault();
  showError(null);
  choosePipeline(pipeline)
    .then(() => openRun(pipeline, run, { push: true }))
    .catch(showError);
});
window.addEventListener("popstate", () => {
  showError(null);
  openFromUrl().catch(showError);
});
boot().catch(showError);
