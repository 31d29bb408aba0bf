/**
 * An inline step's input is its own: step code that changes what it is given in place (a common
 * habit) changes neither what a retry of the step gets nor what the run records as its input.
 */
import { describe, it } from "vitest";
import { call, post } from "../helpers/http";
import { ended, recordWhen } from "../helpers/runs";
import { readSse } from "../helpers/sse";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-mutating-retry";

describe("inline step inputs", () => {
  it("gives a retry the input the step was given, not the one its failed attempt changed", async ({ expect }) => {
    const id = uniqueId("mutate");
    const res = await post(`/pipelines/${PIPELINE}/v1/process/sync`, { count: 0 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    // One increment, by the attempt that succeeded: the failed attempt's change did not carry over.
    expect(await res.json()).toEqual({ count: 1 });
    const record = await recordWhen(PIPELINE, id, ended);
    expect(record.steps.bump).toMatchObject({ status: "completed", started: 2, completed: 1, retried: 1 });

    // The run records the input as the step was given it, and its output as it returned it.
    const stream = await readSse(await call(`/v1/pipelines/${PIPELINE}/runs/${id}/events`));
    const completed = stream.events.find((e) => e.event === "step_completed");
    expect(JSON.parse(completed!.data)).toMatchObject({ step: "bump", data: { input: { count: 0 }, output: { count: 1 } } });
    expect(record.capture).toMatchObject({ parameters: { count: 0 } });
  });
});
