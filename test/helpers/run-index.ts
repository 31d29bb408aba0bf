/** Helpers for tests of a run's D1 index row: the row, the Run object's pending flag and alarm. */
import { env } from "cloudflare:workers";
import type { RunIndexRowMessage } from "../../src/runs/index-row";
import { post } from "./http";
import { ended, inHostedRun, recordWhen, runAlarmAt } from "./runs";
import { storedRow } from "./stored-run";

export const indexRow = (pipeline: string, id: string) =>
  env.DB.prepare("SELECT * FROM runs WHERE pipeline = ? AND id = ?").bind(pipeline, id).first<RunIndexRowMessage>();

/** Whether the Run object holds a run-events message it will send again from its alarm. */
export const indexPending = (pipeline: string, id: string) => inHostedRun(pipeline, id, (run) => storedRow(run.store).indexPending);

export const alarmAt = runAlarmAt;

/** Runs a Numaflow sync request to its end (its final row goes to the index through the caller's isolate). */
export async function runToEnd(pipeline: string, id: string): Promise<void> {
  const res = await post(`/pipelines/${pipeline}/v1/process/sync`, { a: 1 }, { "X-Numaflow-Id": id });
  if (res.status !== 200) throw new Error(`the run answered ${res.status}: ${await res.text()}`);
}

/** Starts a Numaflow async run and waits for its end (its Run object sends its own index row). */
export async function runAsyncToEnd(pipeline: string, id: string): Promise<void> {
  const res = await post(`/pipelines/${pipeline}/v1/process/async`, { a: 1 }, { "X-Numaflow-Id": id });
  if (res.status !== 200) throw new Error(`the run answered ${res.status}: ${await res.text()}`);
  await recordWhen(pipeline, id, ended);
}
