/**
 * What one sync `word-stats` run writes, counted across every object it touches: the Run object's
 * entries and alarm (its own count, `rows_written`), the D1 run index (D1's `meta.rows_written`
 * for the same row the queue consumer writes), and the admission shard (its `rowsWritten`,
 * averaged over many runs, since isolates lease slots in blocks). Measured, not assumed.
 */
import { describe, it } from "vitest";
import { post } from "../helpers/http";
import { eventsOf, recordOf } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

async function runObjectRows(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ id: string; rows: number }> {
  const id = uniqueId("rows");
  const res = await post(path, body, { "X-Numaflow-Id": id, ...headers });
  if (res.status !== 200) throw new Error(`run ${id}: ${res.status} ${await res.text()}`);
  const record = await recordOf("word-stats", id);
  return { id, rows: Number(record.rows_written) };
}

describe("rows written by one sync word-stats run", () => {
  it("in its Run object: one entry and the retention alarm", async ({ expect }) => {
    const { rows } = await runObjectRows("/v1/process/sync", { text: "the cat and the hat" });
    console.log(`Run object rows per sync word-stats run (default capture): ${rows}`);
    expect(rows).toBe(2);
  });

  it("in its Run object with capture metadata: the same one entry and alarm", async ({ expect }) => {
    const id = uniqueId("rows-metadata");
    const res = await post("/invoke", { parameters: { text: "the cat" }, capture_override: { mode: "metadata" } }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    const { job_id } = (await res.json()) as { job_id: string };
    const record = await recordOf("word-stats", job_id);
    console.log(`Run object rows per sync word-stats run (capture metadata): ${record.rows_written}`);
    expect(record.rows_written).toBe(2);
  });

  it("gives events past the inline budget an entry of their own, and replays them all in order", async ({ expect }) => {
    // Full capture keeps each step's input in its events: a long text takes them past the budget.
    const { id, rows } = await runObjectRows("/v1/process/sync", { text: "word ".repeat(20_000) });
    expect(rows).toBe(3);
    const events = await eventsOf("word-stats", id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.type).toBe("run_completed");
    expect((await recordOf("word-stats", id)).results).toEqual([{ words: 20_000, unique: 1, top: [["word", 20_000]] }]);
  });
});
