/** Helpers for tests that look at runs: their native record and event log, and stage messages. */
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import { runObjectId } from "../../src/engine/run-client";
import { storeMessage, type JsonValue } from "../../src/pipeline/message";
import type { RunEvent } from "../../src/runs/protocol";
import type { StageMessage } from "../../src/queues/stage-message";
import { call } from "./http";
import { readSse } from "./sse";

/** A fresh stub each time: a stub that saw its object reset stays broken. */
export function runStub(pipeline: string, id: string) {
  return env.RUNS.get(runObjectId(env.RUNS, pipeline, id));
}

export type RunRecordJson = Record<string, unknown> & { status: string; steps: Record<string, Record<string, number | string>> };

export async function recordOf(pipeline: string, id: string): Promise<RunRecordJson> {
  return (await (await call(`/v1/pipelines/${pipeline}/runs/${id}`)).json()) as RunRecordJson;
}

/** Waits until `check` passes on the run's record, and returns the record. */
export async function recordWhen(pipeline: string, id: string, check: (r: RunRecordJson) => boolean, timeout = 8000): Promise<RunRecordJson> {
  let record = await recordOf(pipeline, id);
  await vi.waitFor(
    async () => {
      record = await recordOf(pipeline, id);
      if (!check(record)) throw new Error(`not yet: ${record.status}`);
    },
    { timeout, interval: 40 },
  );
  return record;
}

export const ended = (r: RunRecordJson) => r.status !== "running" && r.status !== "pending";

export async function eventsOf(pipeline: string, id: string): Promise<RunEvent[]> {
  const res = await runStub(pipeline, id).fetch("https://run.internal/events?format=native");
  const read = await readSse(res);
  return read.events.map((e) => JSON.parse(e.data) as RunEvent);
}

/** The stage a run's Run object sends for the queued step `step`, as message `seq` of the run. */
export function stageOf(pipeline: string, runId: string, step: string, seq: number, input: JsonValue, attempt = 1): StageMessage {
  return {
    kind: "stage",
    runId,
    pipeline,
    step,
    key: `${runId}/${step}/${seq}`,
    attempt,
    payload: { inline: storeMessage({ value: input, tags: [], keys: [] }) },
  };
}
