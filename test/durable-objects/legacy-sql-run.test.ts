/**
 * Runs stored in SQL tables by an earlier deploy (durable-objects/run/legacy/): the first load
 * converts them to entries, whatever table version they were left at, and drops the tables.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { apply, MIGRATIONS, WORK_TABLE_V1 } from "../../durable-objects/run/legacy/schema";
import { Sql } from "../../durable-objects/sql";
import type { WaitOutcome } from "../../src/runs/protocol";
import { uniqueId } from "../helpers/unique";

const PIPELINE = "word-stats";

/** A finished run as version 1 of the tables stored it: its row, one burst of events, one result. */
function storeVersion1Run(storage: SqlStorage, id: string): void {
  const sql = new Sql(storage);
  apply(sql, MIGRATIONS[0]!);
  sql.run(WORK_TABLE_V1);
  const now = Date.now();
  const capture = { fallback: { mode: "full", sampleRate: 1, maxBytes: 262_144, redact: [] }, runtime: "REALTIME", sampleFraction: 0 };
  const steps = { normalise: { status: "completed", started: 1, completed: 1, failed: 0 } };
  sql.run(
    `INSERT INTO run (singleton, schema_version, id, pipeline, status, surface, run_name, headers, input, created_at,
       deadline_at, finished_at, expires_at, next_seq, next_message, result_count, error, steps, rows_written, capture, admission)
     VALUES (1, 1, ?, ?, 'completed', 'native', 'old-run', '{}', ?, ?, ?, ?, ?, 3, 1, 1, NULL, ?, 9, ?, NULL)`,
    id,
    PIPELINE,
    JSON.stringify({ v: { text: "old words" } }),
    now - 1000,
    now + 60_000,
    now - 900,
    now + 3_600_000,
    JSON.stringify(steps),
    JSON.stringify(capture),
  );
  const events = [
    { seq: 1, at: now - 1000, type: "run_started" },
    { seq: 2, at: now - 900, type: "run_completed", data: { results: 1, steps_executed: 1 } },
  ];
  sql.run("INSERT INTO events (first_seq, last_seq, body) VALUES (1, 2, ?)", JSON.stringify(events));
  sql.run("INSERT INTO results (idx, body, content_type) VALUES (0, ?, 'application/json')", new TextEncoder().encode('{"words":2}'));
}

describe("runs stored in SQL tables by an earlier deploy", () => {
  it("are converted on first load: described, streamed and listed as before, with the tables gone", async ({ expect }) => {
    const id = uniqueId("legacy");
    const stub = env.RUNS.get(env.RUNS.idFromName(`${PIPELINE}:${id}`));
    await runInDurableObject(stub, (_, state) => storeVersion1Run(state.storage.sql, id));

    const described = (await stub.describe(id)) as WaitOutcome;
    const snapshot = "snapshot" in described ? described.snapshot : undefined;
    expect(snapshot).toMatchObject({ id, pipeline: PIPELINE, status: "completed", runName: "old-run", resultCount: 1 });
    expect(snapshot?.results?.map((r) => new TextDecoder().decode(r.bytes))).toEqual(['{"words":2}']);

    const stream = await stub.fetch("https://run/events?format=native");
    expect(stream.status).toBe(200);
    const text = await stream.text();
    expect(text).toContain("run_started");
    expect(text).toContain("run_completed");

    const tables = await runInDurableObject(stub, (_, state) =>
      state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\'").toArray(),
    );
    expect(tables).toEqual([]);
  });

  it("migrates a version-1 work table before converting a run still in progress", async ({ expect }) => {
    const id = uniqueId("legacy-work");
    const stub = env.RUNS.get(env.RUNS.idFromName(`${PIPELINE}:${id}`));
    await runInDurableObject(stub, (_, state) => {
      storeVersion1Run(state.storage.sql, id);
      const sql = new Sql(state.storage.sql);
      sql.run("UPDATE run SET status = 'running', finished_at = NULL, expires_at = NULL");
      sql.run(
        "INSERT INTO work (key, step, from_step, message, attempt, state) VALUES (?, 'count', 'normalise', ?, 0, 'pending')",
        `${id}/count/1`,
        JSON.stringify({ v: { tokens: ["old", "words"] } }),
      );
      // The old deploy's watchdog alarm (kept outside the tables).
      // Due later, so that only runDurableObjectAlarm runs it (one due now would race it).
      void state.storage.setAlarm(Date.now() + 60_000);
    });
    // The alarm loads the run, which converts it; the watchdog then drives the pending item.
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const waited = (await stub.wait(id, 10_000)) as WaitOutcome;
    expect("snapshot" in waited ? waited.snapshot : "missing").toMatchObject({ status: "completed", resultCount: 2 });
  });
});
