/**
 * Queued steps end to end: `slow-stats` on a real `wrangler dev`, whose `count` step runs in the
 * stage queue's consumer (Miniflare's local Queues, with wrangler.toml's consumer settings).
 */
import { createParser } from "eventsource-parser";
import { describe, it, vi } from "vitest";
import { api, postJson, uniqueId } from "./helpers";

const text = async (res: Response) => new TextDecoder().decode(await res.arrayBuffer());
const input = { text: "Queues chain stages; the Run object keeps the truth. The truth, the queue." };

describe("slow-stats over HTTP", () => {
  it("answers a sync call with word-stats' result for the same input", async ({ expect }) => {
    const slow = await postJson("/pipelines/slow-stats/v1/process/sync", input);
    const fast = await postJson("/v1/process/sync", input);
    expect(slow.status).toBe(200);
    expect(await text(slow)).toBe(await text(fast));
  });

  it("serves an async ZenML invoke whose job completes with the queued step in its stream", async ({ expect }) => {
    const res = await postJson("/pipelines/slow-stats/invoke?mode=async", { parameters: input });
    expect(res.status).toBe(200);
    const jobId = ((await res.json()) as { job_id: string }).job_id;
    await vi.waitFor(
      async () => {
        const job = (await (await api(`/pipelines/slow-stats/jobs/${jobId}`)).json()) as { status: string };
        expect(job.status).toBe("completed");
      },
      { timeout: 15_000, interval: 200 },
    );
    const stream = await api(`/pipelines/slow-stats/stream/${jobId}`);
    const events: { event?: string; data: string }[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed(await text(stream));
    const logs = events.filter((e) => e.event === "log").map((e) => (JSON.parse(e.data) as { message: string }).message);
    expect(logs).toEqual(["Step 'count' queued"]);
    expect(events.at(-1)?.event).toBe("pipeline_completed");
  });

  it("cancels a run from the native API", async ({ expect }) => {
    const id = uniqueId("e2e-queued-cancel");
    await postJson("/pipelines/slow-stats/v1/process/async", input, { "X-Numaflow-Id": id });
    const res = await api(`/v1/pipelines/slow-stats/runs/${id}/cancel`, { method: "POST" });
    // The queued step takes about a second (the batch timeout); the run may rarely have ended first.
    expect([200, 409]).toContain(res.status);
    const record = (await (await api(`/v1/pipelines/slow-stats/runs/${id}`)).json()) as { status: string };
    expect(record.status).toBe(res.status === 200 ? "cancelled" : "completed");
  });
});
