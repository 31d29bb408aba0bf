/**
 * Streaming steps (test-streaming's `speak` emits one delta per word): deltas reach subscribers
 * live as `step_delta` events, a subscriber that resumes or joins late gets every delta it missed
 * in order and once, storage is written coalesced, a cancel stops the step and no delta follows
 * it, a failed attempt's deltas carry its attempt, and each surface frames them its own way.
 */
import { abortAllDurableObjects } from "cloudflare:test";
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { ended, onJournal, recordOf, recordWhen, runRunAlarm } from "../helpers/runs";
import { readSse } from "../helpers/sse";
import { streamingAborted } from "../helpers/test-pipelines";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "test-streaming";
const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`);

async function start(input: unknown, id = uniqueId("stream")): Promise<string> {
  const res = await post(`/pipelines/${PIPELINE}/v1/process/async`, input, { "X-Numaflow-Id": id });
  if (res.status !== 200) throw new Error(`start answered ${res.status}`);
  return id;
}

const eventsUrl = (id: string) => `/v1/pipelines/${PIPELINE}/runs/${id}/events`;
interface Delta {
  step: string;
  index: number;
  delta: string;
  attempt: number;
}
const deltasOf = (events: { event?: string | undefined; data: string }[]) =>
  events.filter((e) => e.event === "step_delta").map((e) => JSON.parse(e.data) as Delta);

describe("streaming steps", () => {
  it("delivers each delta live, before the step ends, in order, and the result is the whole text", async ({ expect }) => {
    const id = await start({ words: words(8), delayMs: 40 });
    let sawDeltaWhileRunning = false;
    const stream = await readSse(await call(eventsUrl(id)), (read) => {
      if (!sawDeltaWhileRunning && read.events.some((e) => e.event === "step_delta") && !read.events.some((e) => e.event === "step_completed")) {
        sawDeltaWhileRunning = true;
      }
      return false;
    });
    expect(sawDeltaWhileRunning).toBe(true);
    const deltas = deltasOf(stream.events);
    expect(deltas.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(deltas.map((d) => d.delta).join("")).toBe("w0 w1 w2 w3 w4 w5 w6 w7");
    expect(deltas.every((d) => d.step === "speak" && d.attempt === 1)).toBe(true);
    // Each delta came before the step's completion, which came before the run's.
    const order = stream.events.map((e) => e.event);
    expect(order.lastIndexOf("step_delta")).toBeLessThan(order.indexOf("step_completed"));
    expect((await recordOf(PIPELINE, id)).results).toEqual([{ text: "w0 w1 w2 w3 w4 w5 w6 w7", tokens: 8 }]);
  });

  it("gives a subscriber that resumes, or joins after the end, every delta it missed, once, in order", async ({ expect }) => {
    const id = await start({ words: words(10), delayMs: 30 });
    const first = await readSse(await call(eventsUrl(id)), (read) => deltasOf(read.events).length === 4);
    const lastSeen = first.events.at(-1)!.id!;
    const resumed = await readSse(await call(eventsUrl(id), { headers: { "Last-Event-ID": lastSeen } }));
    const seen = [...deltasOf(first.events), ...deltasOf(resumed.events)];
    expect(seen.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    await recordWhen(PIPELINE, id, ended);
    const late = await readSse(await call(eventsUrl(id)));
    expect(
      deltasOf(late.events)
        .map((d) => d.delta)
        .join(""),
    ).toBe(words(10).join(" "));
    const ids = late.events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it("writes deltas coalesced: a few rows for a second of streaming, not one per delta", async ({ expect }) => {
    const id = await start({ words: words(50), delayMs: 20 });
    const record = await recordWhen(PIPELINE, id, ended);
    expect(record.status).toBe("completed");
    // 50 deltas over ~1 s: one write per 100 ms at most, plus the run's own: its first and last
    // bursts (entry and alarm each) and, with the tests' 1-second watchdog, an alarm and a write per second.
    // (On the journal host moving an alarm is two rows, its due entry deleted and put, and the
    // shard's alarm is one more when the run moves it earlier.)
    const stream = await readSse(await call(eventsUrl(id)));
    const at = (type: string) => Date.parse((JSON.parse(stream.events.find((e) => e.event === type)!.data) as { at: string }).at);
    const ms = at("run_completed") - at("run_started");
    const rows = Number(record.rows_written);
    expect(rows).toBeGreaterThan(4);
    const alarmMoves = 2 + Math.floor(ms / 1000);
    expect(rows).toBeLessThanOrEqual(Math.ceil(ms / 100) + 2 + Math.floor(ms / 1000) + (onJournal ? 2 * alarmMoves + 1 : alarmMoves));
    expect(rows).toBeLessThan(50);
  });

  it("stops the step on cancel: its signal is aborted and no delta follows the cancel", async ({ expect }) => {
    const id = await start({ words: words(200), delayMs: 20 });
    await readSse(await call(eventsUrl(id)), (read) => deltasOf(read.events).length >= 3);
    const res = await call(`/v1/pipelines/${PIPELINE}/runs/${id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    await vi.waitFor(() => expect(streamingAborted.has(id)).toBe(true), { timeout: 3000, interval: 20 });
    const stream = await readSse(await call(eventsUrl(id)));
    const order = stream.events.map((e) => e.event);
    expect(order).toContain("run_cancelled");
    expect(order.lastIndexOf("step_delta")).toBeLessThan(order.indexOf("run_cancelled"));
    // The record counts exactly the deltas logged before the cancel (the step's later emits are ignored).
    expect((await recordOf(PIPELINE, id)).steps.speak?.deltas).toBe(deltasOf(stream.events).length);
  });

  it("fails the step that stops mid-stream; its deltas so far carry their attempt", async ({ expect }) => {
    const id = await start({ words: words(6), delayMs: 10, failAfter: 3 });
    const record = await recordWhen(PIPELINE, id, ended);
    expect(record).toMatchObject({ status: "failed", error: { step: "speak" } });
    expect((record.error as { message: string }).message).toContain("the model stopped after 3 deltas");
    const stream = await readSse(await call(eventsUrl(id)));
    expect(deltasOf(stream.events)).toEqual([
      { step: "speak", index: 0, delta: "w0", attempt: 1 },
      { step: "speak", index: 1, delta: " w1", attempt: 1 },
      { step: "speak", index: 2, delta: " w2", attempt: 1 },
    ]);
  });

  it("runs an interrupted step again: new deltas from index 0 with the next attempt, ids never reused", async ({ expect }) => {
    const id = await start({ words: words(40), delayMs: 25 });
    const before = await readSse(await call(eventsUrl(id)), (read) => deltasOf(read.events).length >= 5);
    const highest = Math.max(...before.events.map((e) => Number(e.id)));
    await abortAllDurableObjects();
    expect(await runRunAlarm(PIPELINE, id)).toBe(true);
    const record = await recordWhen(PIPELINE, id, ended, 15_000);
    expect(record.status).toBe("completed");
    const after = await readSse(await call(eventsUrl(id), { headers: { "Last-Event-ID": String(highest) } }));
    const retried = deltasOf(after.events).filter((d) => d.attempt === 2);
    expect(retried.map((d) => d.index)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(after.events.map((e) => e.event)).toContain("step_interrupted");
    expect(after.events.every((e) => Number(e.id) > highest)).toBe(true);
  });

  it("frames deltas per surface: Numaflow only when asked (?deltas=true), ZenML as progress updates", async ({ expect }) => {
    const id = await start({ words: words(3), delayMs: 5 });
    await recordWhen(PIPELINE, id, ended);
    const plain = await readSse(await call(`/pipelines/${PIPELINE}/v1/process/sse?id=${id}`));
    expect(plain.events.map((e) => e.event)).toEqual([undefined]);
    const withDeltas = await readSse(await call(`/pipelines/${PIPELINE}/v1/process/sse?id=${id}&deltas=true`));
    expect(deltasOf(withDeltas.events).map((d) => d.delta)).toEqual(["w0", " w1", " w2"]);
    expect((await call(`/pipelines/${PIPELINE}/v1/process/sse?id=${id}&deltas=maybe`)).status).toBe(400);
    // A start with a bad `deltas` is refused before anything starts: the id stays free.
    const refused = `${id}-refused`;
    const start400 = await call(`/pipelines/${PIPELINE}/v1/process/sse?deltas=maybe`, {
      method: "POST",
      body: JSON.stringify({ words: words(1), delayMs: 5 }),
      headers: { "X-Numaflow-Id": refused },
    });
    expect(start400.status).toBe(400);
    expect(((await start400.json()) as { message: string }).message).toContain("'deltas'");
    expect((await call(`/pipelines/${PIPELINE}/v1/process/fetch?id=${refused}`)).status).toBe(404);

    const zenml = await readSse(await call(`/pipelines/${PIPELINE}/stream/${id}`));
    const updates = zenml.events
      .map((e) => JSON.parse(e.data) as { event_type: string; data: { delta?: string; delta_index?: number } })
      .filter((e) => e.event_type === "progress_update" && e.data.delta !== undefined);
    expect(updates.map((u) => [u.data.delta_index, u.data.delta])).toEqual([
      [0, "w0"],
      [1, " w1"],
      [2, " w2"],
    ]);
  });

  it("retries a step per its retry policy: the failed attempt's deltas carry attempt 1, the next streams anew from 0", async ({ expect }) => {
    const res = await post("/pipelines/test-streaming-retry/v1/process/async", { words: words(4), delayMs: 5 }, { "X-Numaflow-Id": uniqueId("retry") });
    const id = res.headers.get("X-Numaflow-Id")!;
    const record = await recordWhen("test-streaming-retry", id, ended);
    expect(record).toMatchObject({ status: "completed", results: [{ text: "w0 w1 w2 w3", tokens: 4 }] });
    expect(record.steps.speak).toMatchObject({ status: "completed", started: 2, completed: 1, retried: 1, deltas: 4 });
    const stream = await readSse(await call(`/v1/pipelines/test-streaming-retry/runs/${id}/events`));
    expect(deltasOf(stream.events).map((d) => [d.attempt, d.index, d.delta])).toEqual([
      [1, 0, "w0"],
      [1, 1, " w1"],
      [2, 0, "w0"],
      [2, 1, " w1"],
      [2, 2, " w2"],
      [2, 3, " w3"],
    ]);
    const retrying = stream.events.find((e) => e.event === "step_retrying");
    expect(JSON.parse(retrying!.data)).toMatchObject({ step: "speak", data: { attempt: 1, error: "the model broke off" } });
  });
});
