// @ts-check
/**
 * The per-step timeline beside the graph: each step's status, when it started (from the run's
 * start) and how long it took, with a bar on the run's time axis. One row per step
 * (`<tr data-timeline-step>`).
 */
import { html } from "./dom.js";

/**
 * @typedef {object} StepTiming
 * @property {string} status
 * @property {number} [startedAt] epoch ms of its first start
 * @property {number} [finishedAt] epoch ms of its last outcome
 */

/**
 * @param {HTMLTableSectionElement} body
 * @param {string[]} names the steps, in the pipeline's order
 * @param {Record<string, StepTiming>} steps
 * @param {number | null} runStart epoch ms
 * @param {number | null} runEnd epoch ms, null while the run goes on
 */
export function renderStepTimeline(body, names, steps, runStart, runEnd) {
  const known = names.flatMap((n) => [steps[n]?.startedAt, steps[n]?.finishedAt]).filter((t) => t !== undefined);
  const start = runStart ?? (known.length > 0 ? Math.min(...known) : null);
  const end = runEnd ?? (known.length > 0 ? Math.max(...known) : null);
  const span = start !== null && end !== null ? Math.max(1, end - start) : 1;
  body.replaceChildren(
    ...names.map((name) => {
      const step = steps[name] ?? { status: "pending" };
      const offset = start !== null && step.startedAt !== undefined ? step.startedAt - start : null;
      const duration = step.startedAt !== undefined && step.finishedAt !== undefined ? step.finishedAt - step.startedAt : null;
      const bar = html("div", { class: "bar" });
      if (offset !== null) {
        bar.style.left = `${(100 * offset) / span}%`;
        bar.style.width = `${(100 * (duration ?? (end ?? step.startedAt ?? 0) - (step.startedAt ?? 0))) / span}%`;
      } else {
        bar.hidden = true;
      }
      return html("tr", { class: step.status, "data-timeline-step": name, "data-status": step.status }, [
        html("th", { scope: "row" }, [name]),
        html("td", {}, [step.status]),
        html("td", { class: "num", "data-start": offset === null ? "" : String(offset) }, [offset === null ? "–" : `+${offset} ms`]),
        html("td", { class: "num", "data-duration": duration === null ? "" : String(duration) }, [
          duration === null ? (offset === null ? "–" : "…") : `${duration} ms`,
        ]),
        html("td", { class: "bar-cell" }, [html("div", { class: "track" }, [bar])]),
      ]);
    }),
  );
}
