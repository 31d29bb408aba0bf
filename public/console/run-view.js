// @ts-check
/**
 * The run panel: the run's status (`data-run-status`), its graph and per-step timeline, result and
 * events. Events move it forward while the run goes on; the run's record has the last word: once
 * the record says the run has ended, events only add to the list, and no step is left running.
 */
import { runHref } from "./api.js";
import { element, html, query } from "./dom.js";
import { drawGraph, setStepStatuses } from "./graph.js";
import { isFinal } from "./live.js";
import { renderStepTimeline } from "./steps.js";

/** @typedef {import("./client.js").PipelineDetail} PipelineDetail */
/** @typedef {import("./client.js").RunRecord} RunRecord */
/** @typedef {import("./client.js").RunEvent} RunEvent */
/** @typedef {import("./steps.js").StepTiming} StepTiming */

/** @type {Record<string, string>} a step's status after each event about it */
const STATUS_AFTER = {
  step_queued: "queued",
  step_started: "running",
  step_retrying: "running",
  step_interrupted: "pending",
  step_completed: "completed",
  step_failed: "failed",
  result: "completed",
};

export class RunView {
  /** @type {PipelineDetail | null} the pipeline whose graph is drawn */
  pipeline = null;
  /** @type {{ pipeline: string, id: string } | null} the run shown, if any */
  shown = null;
  /** @type {Record<string, StepTiming>} */
  steps = {};
  /** @type {number | null} */
  runStart = null;
  /** @type {number | null} */
  runEnd = null;
  final = false;

  status = element("run-status", HTMLElement);
  link = element("run-link", HTMLAnchorElement);
  graph = element("graph", SVGSVGElement);
  stepRows = query("#steps tbody", HTMLTableSectionElement);
  timeline = element("timeline", HTMLOListElement);
  result = element("result", HTMLPreElement);
  liveSection = element("live-section", HTMLElement);
  liveOutput = element("live-output", HTMLPreElement);
  duration = element("run-duration", HTMLElement);
  connection = element("connection", HTMLElement);
  cancel = query("[data-action='cancel']", HTMLButtonElement);

  /**
   * Empties the panel for a run (or for none, with `id` null).
   * @param {PipelineDetail} pipeline
   * @param {string | null} id
   * @param {string} status
   */
  reset(pipeline, id, status) {
    this.pipeline = pipeline;
    this.shown = id === null ? null : { pipeline: pipeline.name, id };
    this.steps = {};
    this.runStart = null;
    this.runEnd = null;
    this.final = false;
    drawGraph(this.graph, pipeline);
    this.link.textContent = id ?? "";
    if (id === null) this.link.removeAttribute("href");
    else this.link.href = runHref(pipeline.name, id);
    this.timeline.replaceChildren();
    this.result.textContent = "–";
    this.liveOutput.textContent = "";
    delete this.liveOutput.dataset.step;
    delete this.liveOutput.dataset.attempt;
    delete this.liveOutput.dataset.deltas;
    this.liveSection.hidden = true;
    this.duration.textContent = "";
    this.connection.textContent = "";
    this.cancel.disabled = true;
    this.setStatus(status);
    this.renderSteps();
  }

  /** @param {string} status */
  setStatus(status) {
    this.status.textContent = status === "none" ? "not started" : status;
    this.status.className = `status ${status}`;
    this.status.dataset.runStatus = status;
  }

  /** @param {"connecting" | "live" | "reconnecting" | "ended"} state */
  setConnection(state) {
    this.connection.textContent = state === "ended" ? "" : state === "live" ? "live" : `${state}…`;
    this.connection.dataset.connection = state;
  }

  /** @param {RunEvent} event */
  applyEvent(event) {
    // A streamed delta grows the step's live output; the event list would drown in them.
    if (event.type === "step_delta") return this.applyDelta(event);
    this.timeline.append(eventItem(event));
    this.timeline.scrollTop = this.timeline.scrollHeight;
    if (this.final) return;
    const at = Date.parse(event.at);
    if (event.type === "run_started") {
      this.runStart ??= at;
      this.setStatus("running");
    }
    const status = STATUS_AFTER[event.type];
    if (event.step !== undefined && status !== undefined) {
      const step = (this.steps[event.step] ??= { status: "pending" });
      step.status = status;
      if (status === "running") step.startedAt ??= at;
      if (status === "completed" || status === "failed") step.finishedAt = at;
      this.renderSteps();
    }
  }

  /**
   * A streaming step's next piece of output, shown as it comes. A delta of a later attempt starts
   * the text again: the earlier attempt's deltas are void.
   * @param {RunEvent} event
   */
  applyDelta(event) {
    const data = /** @type {{ delta?: unknown, attempt?: unknown }} */ (event.data ?? {});
    const attempt = typeof data.attempt === "number" ? data.attempt : 1;
    if (this.liveOutput.dataset.step !== event.step || Number(this.liveOutput.dataset.attempt) !== attempt) {
      this.liveOutput.dataset.step = event.step ?? "";
      this.liveOutput.dataset.attempt = String(attempt);
      this.liveOutput.textContent = "";
    }
    this.liveOutput.textContent += typeof data.delta === "string" ? data.delta : "";
    this.liveOutput.dataset.deltas = String(Number(this.liveOutput.dataset.deltas ?? 0) + 1);
    this.liveSection.hidden = false;
  }

  /** @param {RunRecord} record */
  applyRecord(record) {
    this.final = isFinal(record.status);
    this.runStart = record.created_at ? Date.parse(record.created_at) : this.runStart;
    this.runEnd = record.finished_at ? Date.parse(record.finished_at) : null;
    for (const [name, state] of Object.entries(record.steps)) {
      // A run that has ended has no step going on: one it stopped is shown as such.
      const status = this.final && (state.status === "running" || state.status === "queued") ? "stopped" : state.status;
      this.steps[name] = {
        status,
        ...(state.firstStartedAt !== undefined ? { startedAt: state.firstStartedAt } : {}),
        ...(state.lastFinishedAt !== undefined ? { finishedAt: state.lastFinishedAt } : {}),
      };
    }
    if (this.final) {
      for (const step of Object.values(this.steps)) if (step.status === "running" || step.status === "queued") step.status = "stopped";
    }
    this.setStatus(record.status);
    this.cancel.disabled = this.final;
    this.duration.textContent = record.duration_ms === null ? "" : `in ${record.duration_ms} ms`;
    if (record.results) this.result.textContent = JSON.stringify(record.results.length === 1 ? record.results[0] : record.results, null, 2);
    else if (record.error) this.result.textContent = `${record.error.code}: ${record.error.message}`;
    this.renderSteps();
  }

  /**
   * A memory-only run: answered whole by the sync call, with nothing stored to follow.
   * @param {PipelineDetail} pipeline
   * @param {string | null} id
   * @param {unknown[]} results
   */
  showMemoryOnly(pipeline, id, results) {
    this.reset(pipeline, null, "completed");
    this.link.textContent = id ? `${id} (memory-only: not stored)` : "memory-only: not stored";
    this.final = true;
    this.result.textContent = JSON.stringify(results.length === 1 ? results[0] : results, null, 2);
  }

  renderSteps() {
    const names = this.pipeline?.steps.map((s) => s.name) ?? [];
    /** @type {Record<string, string>} */
    const statuses = Object.fromEntries(Object.entries(this.steps).map(([name, s]) => [name, s.status]));
    setStepStatuses(this.graph, statuses);
    renderStepTimeline(this.stepRows, names, this.steps, this.runStart, this.runEnd);
  }
}

/** @param {RunEvent} event */
function eventItem(event) {
  const detail = [event.type, event.step, event.data?.error, event.data?.message].filter((part) => typeof part === "string" && part !== "");
  return html("li", { "data-seq": String(event.seq), "data-event-type": event.type }, [
    html("span", { class: "seq" }, [String(event.seq)]),
    html("time", { datetime: event.at }, [event.at.slice(11, 23)]),
    html("span", {}, [detail.join(" · ")]),
  ]);
}
