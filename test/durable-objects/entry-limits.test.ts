/**
 * The platform's limit on one storage entry (2 MB; `RunStore` refuses what production would, since
 * local workerd does not): every input up to the body limit and every burst of events fits, as the
 * run is written and after it is read back by a new instance. And a burst whose write fails leaves
 * no run behind in memory.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, it } from "vitest";
import { approximateSize, ENTRY_MAX_BYTES } from "../../durable-objects/run/entry-size";
import { bodyText, post } from "../helpers/http";
import { ended, eventsOf, recordOf, recordWhen, inHostedRun, runStub } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

/** The largest entry the run's object holds, measured as `RunStore` measures. */
function largestEntry(pipeline: string, id: string): Promise<number> {
  return runInDurableObject(runStub(pipeline, id), (_, state) => {
    let largest = 0;
    for (const [key, value] of state.storage.kv.list()) largest = Math.max(largest, key.length + approximateSize(value));
    return largest;
  });
}

/**
 * A text near the default body limit (2 MiB of UTF-8) with characters outside Latin-1, so V8 holds
 * it in two bytes a character: 3.4 MB as a string.
 */
function largeText(): string {
  return "€ ".repeat(150_000) + "a".repeat(1_400_000);
}

describe("storage entry limits", () => {
  it("keeps a burst of 24,000 events (the sentences steps over a text of 6,000 questions) in entries under the limit", { timeout: 30_000 }, async ({
    expect,
  }) => {
    const id = uniqueId("burst");
    const res = await post("/pipelines/test-sentences-local/v1/process/sync", { text: "a? ".repeat(6000) }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect((await bodyText(res)).match(/"A\?"/g)).toHaveLength(6000);
    expect(await largestEntry("test-sentences-local", id)).toBeLessThanOrEqual(ENTRY_MAX_BYTES);
    await evictDurableObject(runStub("test-sentences-local", id));
    const events = await eventsOf("test-sentences-local", id);
    expect(events.filter((e) => e.type === "result")).toHaveLength(6000);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });

  it("keeps an input near the body limit out of the run entry, and reads it back", async ({ expect }) => {
    const id = uniqueId("input");
    const text = largeText();
    const res = await post("/pipelines/word-stats/v1/process/sync", { text }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect(await largestEntry("word-stats", id)).toBeLessThanOrEqual(ENTRY_MAX_BYTES);

    await evictDurableObject(runStub("word-stats", id));
    const record = await recordOf("word-stats", id);
    expect(record.status).toBe("completed");
    const started = (await eventsOf("word-stats", id)).find((e) => e.type === "step_started");
    expect(started).toBeDefined();
  });

  it("keeps a large message waiting for a queued step under the limit, and the run completes", async ({ expect }) => {
    const id = uniqueId("queued");
    const res = await post("/pipelines/slow-stats/v1/process/async", { text: largeText() }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    const record = await recordWhen("slow-stats", id, ended, 20_000);
    expect(record.status).toBe("completed");
    expect(await largestEntry("slow-stats", id)).toBeLessThanOrEqual(ENTRY_MAX_BYTES);
  });

  it("leaves no run in memory when the first burst's write fails: the start asked again runs it, once", async ({ expect }) => {
    const id = uniqueId("phantom");
    await inHostedRun("word-stats", id, (run) => {
      run.store.failNextWrite = new Error("storage refused the write");
    });
    // The refused write resets the object (no phantom run stays in memory to answer a duplicate);
    // the Worker asks for the start again, by its token, and that start stores and runs it.
    const res = await post("/pipelines/word-stats/v1/process/sync", { text: "one two" }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    expect((await recordOf("word-stats", id)).status).toBe("completed");
    expect((await eventsOf("word-stats", id)).filter((e) => e.type === "run_started")).toHaveLength(1);
    const again = await post("/pipelines/word-stats/v1/process/sync", { text: "one two" }, { "X-Numaflow-Id": id });
    expect(again.status).toBe(409);
  });
});
