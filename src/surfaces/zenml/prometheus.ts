/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4), for a client that asks with
 * `Accept: text/plain`: run counters by surface and status, and run-duration histograms by
 * surface, for one pipeline, computed from the D1 run index.
 */
import { countRuns, DURATION_BUCKETS_SECONDS, durationHistograms } from "../../engine/run-index";

const label = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export async function prometheusMetrics(db: D1Database, pipeline: string): Promise<string> {
  const [counts, histograms] = await Promise.all([countRuns(db, pipeline), durationHistograms(db, pipeline)]);
  const p = label(pipeline);
  const lines = [
    "# HELP edgeserve_runs_total Runs accepted, by surface and current status.",
    "# TYPE edgeserve_runs_total counter",
    ...counts.map((r) => `edgeserve_runs_total{pipeline="${p}",surface="${label(r.surface)}",status="${label(r.status)}"} ${r.runs}`),
    "# HELP edgeserve_run_duration_seconds Duration of finished runs, from acceptance to the end.",
    "# TYPE edgeserve_run_duration_seconds histogram",
  ];
  for (const h of histograms) {
    const s = label(h.surface);
    DURATION_BUCKETS_SECONDS.forEach((bound, i) => {
      lines.push(`edgeserve_run_duration_seconds_bucket{pipeline="${p}",surface="${s}",le="${bound}"} ${h.cumulative[i] ?? 0}`);
    });
    lines.push(`edgeserve_run_duration_seconds_bucket{pipeline="${p}",surface="${s}",le="+Inf"} ${h.count}`);
    lines.push(`edgeserve_run_duration_seconds_sum{pipeline="${p}",surface="${s}"} ${h.sumSeconds}`);
    lines.push(`edgeserve_run_duration_seconds_count{pipeline="${p}",surface="${s}"} ${h.count}`);
  }
  return `${lines.join("\n")}\n`;
}
