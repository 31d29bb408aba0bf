/**
 * What one sync `word-stats` run writes, counted across every object it touches: the Run object's
 * entries and alarm (its own count, `rows_written`; on the journal host, the run's entries, its
 * due-time entry, and the shard's alarm when this run moved it earlier), the D1 run index (D1's `meta.rows_written`
 * for the same row the queue consumer writes), and the admission shard (its `rowsWritten`,
 * averaged over many runs, since isolates lease slots in blocks). Measured, not assumed.
 */
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { writeRunIndexRows } from "../../src/engine/run-index";
import { runIndexRowSchema } from "../../src/runs/index-row";
import { post } from "../helpers/http";
import { eventsOf, onJournal, recordOf } from "../helpers/runs";

/** The alarm's row: the Run object's own; a journal run's due entry, plus the shard's alarm when the run moves it earlier. */
const ALARM_ROWS = onJournal ? [1, 2] : [1, 1];
import { uniqueId } from "../helpers/unique";

async function runObjectRows(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ id: string; rows: number }> {
  const id = uniqueId("rows");
  const res = await post(path, body, { "X-Numaflow-Id": id, ...headers });
  if (res.status !== 200) throw new Error(`run ${id}: ${res.status} ${await res.text()}`);
  const record = await recordOf("word-stats", id);
  return { id, rows: Number(record.rows_written) };
}

/**
 * D1's rows written for a run's index row: the row the consumer wrote (waited for, then read back)
 * written again, as the consumer writes it, under a key of its own (a new run's insert).
 */
async function indexRows(id: string): Promise<number> {
  const stored = await vi.waitUntil(() => env.DB.prepare("SELECT * FROM runs WHERE pipeline = 'word-stats' AND id = ?").bind(id).first(), {
    timeout: 5000,
    interval: 20,
  });
  const row = runIndexRowSchema.parse(stored);
  return writeRunIndexRows(env.DB, [{ ...row, pipeline: `rows-measure-${id}` }]);
}

describe("rows written by one sync word-stats run", () => {
  it("across every object it touches: at most 4 with the default settings", async ({ expect }) => {
    const { id, rows } = await runObjectRows("/v1/process/sync", { text: "the cat and the hat" });
    const index = await indexRows(id);
    // Admission: none per sync run (slots are leased to isolates in blocks, and a run that ends
    // while its caller waits hands its slot back in the answer); the shard's own rows, amortised
    // over many runs, are measured in admission-faults.test.ts (about 0.1 per run).
    console.log(`rows per sync word-stats run: Run object ${rows} (one entry, one alarm) + D1 index ${index} = ${rows + index}`);
    expect(index).toBe(1);
    expect(rows + index).toBeLessThanOrEqual(onJournal ? 5 : 4);
  });

  it("with capture metadata: at most 3 across every object", async ({ expect }) => {
    const res = await post("/invoke", { parameters: { text: "the cat" }, capture_override: { mode: "metadata" } });
    expect(res.status).toBe(200);
    const { job_id } = (await res.json()) as { job_id: string };
    const rows = Number((await recordOf("word-stats", job_id)).rows_written);
    const index = await indexRows(job_id);
    console.log(`rows per sync word-stats run (capture metadata): Run object ${rows} + D1 index ${index} = ${rows + index}`);
    expect(rows).toBeGreaterThanOrEqual(1 + ALARM_ROWS[0]!);
    expect(rows).toBeLessThanOrEqual(1 + ALARM_ROWS[1]!);
    expect(rows + index).toBeLessThanOrEqual(onJournal ? 4 : 3);
  });

  it("gives events past the inline budget an entry of their own, and replays them all in order", async ({ expect }) => {
    // Full capture keeps each step's input in its events: a long text takes them past the budget.
    const { id, rows } = await runObjectRows("/v1/process/sync", { text: "word ".repeat(20_000) });
    expect(rows).toBeGreaterThanOrEqual(2 + ALARM_ROWS[0]!);
    expect(rows).toBeLessThanOrEqual(2 + ALARM_ROWS[1]!);
    const events = await eventsOf("word-stats", id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.at(-1)?.type).toBe("run_completed");
    expect((await recordOf("word-stats", id)).results).toEqual([{ words: 20_000, unique: 1, top: [["word", 20_000]] }]);
  });
});
