/** Helpers for tests that look at runs: their native record and event log, and stage messages. */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { HostedRun } from "../../durable-objects/run/hosted-run";
import { RUN_ID_HEADER } from "../../src/runs/protocol";
import type { RunObject } from "../../durable-objects/run/run-object";
import type { RunShard } from "../../durable-objects/shard/run-shard";
import { runHostOf } from "../../src/engine/run-hosts";
import { runHostStub } from "../../src/engine/run-client";
import { storeMessage, type JsonValue } from "../../src/pipeline/message";
import type { RunEvent } from "../../src/runs/protocol";
import type { StageMessage } from "../../src/queues/stage-message";
import { call } from "./http";
import { readSse } from "./sse";

/**
 * The stub of the object that hosts the run (its Run object, or its journal shard), as
 * src/engine/run-client.ts finds it. A fresh stub each time: a stub that saw its object reset stays broken.
 */
export function runStub(pipeline: string, id: string): DurableObjectStub<RunObject> {
  return runHostStub(env, pipeline, id);
}

/** Whether the suite runs on the journal host (vitest.config.ts). */
export const onJournal = env.TEST_RUN_HOST === "journal";

/** Runs the run's alarm now, as `runDurableObjectAlarm` does for its object; false when none was set. */
export function runRunAlarm(pipeline: string, id: string): Promise<boolean> {
  if (runHostOf(pipeline).kind === "object") return runDurableObjectAlarm(runStub(pipeline, id));
  return runInDurableObject(runStub(pipeline, id), (shard: RunObject | RunShard) => (shard as RunShard).fireRunAlarm(id));
}

/** When the run's alarm is set to fire (null: not set). */
export function runAlarmAt(pipeline: string, id: string): Promise<number | null> {
  if (runHostOf(pipeline).kind === "object") return runInDurableObject(runStub(pipeline, id), (_, state) => state.storage.getAlarm());
  return runInDurableObject(runStub(pipeline, id), (shard: RunObject | RunShard) => (shard as RunShard).runAlarmAt(id) ?? null);
}

/** Runs `body` inside the run's host, on the run as it holds it (faults, the store's counters). */
export function inHostedRun<T>(pipeline: string, id: string, body: (run: HostedRun, state: DurableObjectState) => T | Promise<T>): Promise<T> {
  return runInDurableObject(runStub(pipeline, id), (instance: RunObject, state) => body(instance.hostedRun(id), state));
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
  const res = await runStub(pipeline, id).fetch("https://run.internal/events?format=native", { headers: { [RUN_ID_HEADER]: id } });
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
