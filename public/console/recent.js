// @ts-check
/** The runs started or opened in this tab (sessionStorage), newest first, each a link to its run URL. */
import { runHref } from "./api.js";
import { html } from "./dom.js";

const KEY = "edgeserve-recent";
const KEEP = 10;

/** @typedef {{ id: string, pipeline: string, status: string }} RecentRun */

/** @returns {RecentRun[]} */
function recentRuns() {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? "[]");
    return Array.isArray(stored) ? stored : [];
  } catch {
    return [];
  }
}

/**
 * @param {RecentRun} run
 * @param {HTMLUListElement} list
 */
export function rememberRun(run, list) {
  const runs = [run, ...recentRuns().filter((r) => r.id !== run.id)].slice(0, KEEP);
  sessionStorage.setItem(KEY, JSON.stringify(runs));
  renderRecent(list);
}

/** @param {HTMLUListElement} list */
export function renderRecent(list) {
  list.replaceChildren(
    ...recentRuns().map((run) =>
      html("li", {}, [html("a", { href: runHref(run.pipeline, run.id), "data-run-link": run.id }, [`${run.pipeline} · ${run.status} · ${run.id.slice(-12)}`])]),
    ),
  );
}
