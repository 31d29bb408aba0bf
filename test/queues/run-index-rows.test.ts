/**
 * The D1 run index after migrations/0003: one row written per run, measured with D1's own
 * `meta.rows_written` (what D1 bills), whether a run's row is new or a newer version of it; an
 * older version writes nothing and changes nothing; the read queries still answer as before and are
 * served by the primary key (their query plans say so); and 0003 keeps every row written under the
 * schema of 0001 and 0002 (run on a scratch copy of those migrations, in this same database).
 */
import { applyD1Migrations, type D1Migration } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import {
  countRuns,
  deleteRunIndex,
  durationHistograms,
  listRuns,
  pipelineOfRun,
  recentDurations,
  RUN_INDEX_READS,
  runsSince,
  writeRunIndexRows,
} from "../../src/engine/run-index";
import type { RunIndexRowMessage } from "../../src/runs/index-row";
import { timeoutMessage } from "../../src/runs/run-timeout";

/** A pipeline name no other test uses (the D1 database is shared by the test files). */
const uniquePipeline = (name: string) => `${name}-${crypto.randomUUID().slice(0, 8)}`;

function row(pipeline: string, id: string, fields: Partial<RunIndexRowMessage> = {}): RunIndexRowMessage {
  return {
    pipeline,
    id,
    surface: "zenml",
    status: "running",
    run_name: null,
    created_at: 1_000,
    finished_at: null,
    duration_ms: null,
    steps_executed: 0,
    error: null,
    cancel_reason: null,
    expires_at: null,
    parameters_preview: null,
    result_preview: null,
    version: 1,
    ...fields,
  };
}

const finished = (status: "completed" | "failed" | "cancelled", createdAt: number, durationMs: number) => ({
  status,
  created_at: createdAt,
  finished_at: createdAt + durationMs,
  duration_ms: durationMs,
});

const stored = (pipeline: string, id: string) =>
  env.DB.prepare("SELECT * FROM runs WHERE pipeline = ? AND id = ?").bind(pipeline, id).all<Record<string, unknown>>();

describe("run index rows written", () => {
  it("writes 1 row for a new run, 1 for a newer version of it, none for an older one", async ({ expect }) => {
    const pipeline = uniquePipeline("rows-written");
    const id = crypto.randomUUID();
    const created = row(pipeline, id, { version: 2, run_name: "first", parameters_preview: '{"a":1}' });
    expect(await writeRunIndexRows(env.DB, [created])).toBe(1);

    const ended = row(pipeline, id, {
      ...finished("completed", 1_000, 250),
      steps_executed: 3,
      result_preview: "x".repeat(16_384),
      expires_at: 90_000,
      version: 7,
    });
    expect(await writeRunIndexRows(env.DB, [ended])).toBe(1);

    // Out of order: an older version changes nothing, and D1 writes nothing for it.
    expect(await writeRunIndexRows(env.DB, [row(pipeline, id, { status: "running", version: 5 })])).toBe(0);
    const { results } = await stored(pipeline, id);
    expect(results).toEqual([{ ...ended, run_name: "first", parameters_preview: null, surface: "zenml" }]);
  });

  it("sums the rows written of a batch: one per run, whatever the order within it", async ({ expect }) => {
    const pipeline = uniquePipeline("rows-written-batch");
    const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const rows = ids.map((id, i) => row(pipeline, id, { created_at: 1_000 + i, version: 3 }));
    expect(await writeRunIndexRows(env.DB, rows)).toBe(3);
    // One batch with a newer and an older version of the same run: the newer is written, once.
    const newer = row(pipeline, ids[0]!, { ...finished("failed", 1_000, 10), error: "boom", version: 9 });
    const older = row(pipeline, ids[0]!, { version: 4 });
    expect(await writeRunIndexRows(env.DB, [newer, older])).toBe(1);
    expect((await stored(pipeline, ids[0]!)).results).toMatchObject([{ status: "failed", error: "boom", version: 9 }]);
    expect(await writeRunIndexRows(env.DB, [])).toBe(0);
  });
});

describe("run index queries on the one-row table", () => {
  it("lists, filters, counts and histograms runs of each pipeline apart", async ({ expect }) => {
    const a = uniquePipeline("index-a");
    const b = uniquePipeline("index-b");
    const rowsA = [
      row(a, "a1", finished("completed", 1_000, 40)),
      row(a, "a2", { ...finished("failed", 2_000, 3_000), error: timeoutMessage(3) }),
      // Two runs created in the same millisecond: ordered by id, descending.
      row(a, "a3", { created_at: 3_000 }),
      row(a, "a4", { ...finished("completed", 3_000, 700), surface: "native" }),
      row(a, "a5", finished("completed", 5_000, 20)),
    ];
    const rowsB = [row(b, "b1", finished("completed", 2_500, 1)), row(b, "b2", { created_at: 4_000, surface: "numaflow" })];
    expect(await writeRunIndexRows(env.DB, [...rowsB, ...rowsA])).toBe(7);

    const ids = (rows: { id: string }[]) => rows.map((r) => r.id);
    expect(ids(await listRuns(env.DB, a, { limit: 10 }))).toEqual(["a5", "a4", "a3", "a2", "a1"]);
    expect(ids(await listRuns(env.DB, a, { limit: 2 }))).toEqual(["a5", "a4"]);
    expect(ids(await listRuns(env.DB, a, { status: "completed", limit: 10 }))).toEqual(["a5", "a4", "a1"]);
    expect(ids(await listRuns(env.DB, a, { status: "completed", limit: 1 }))).toEqual(["a5"]);
    expect(ids(await listRuns(env.DB, a, { status: "cancelled", limit: 10 }))).toEqual([]);
    expect(ids(await listRuns(env.DB, b, { limit: 10 }))).toEqual(["b2", "b1"]);
    const listed = (await listRuns(env.DB, a, { limit: 1 }))[0];
    expect(listed).toMatchObject({ pipeline: a, id: "a5", surface: "zenml", status: "completed", created_at: 5_000, duration_ms: 20 });

    const byKey = (counts: { surface: string; status: string }[]) =>
      [...counts].sort((x, y) => `${x.surface}/${x.status}`.localeCompare(`${y.surface}/${y.status}`));
    expect(byKey(await countRuns(env.DB, a))).toEqual([
      { surface: "native", status: "completed", runs: 1, total_ms: 700, timeouts: 0 },
      { surface: "zenml", status: "completed", runs: 2, total_ms: 60, timeouts: 0 },
      // The failed run outlived its deadline.
      { surface: "zenml", status: "failed", runs: 1, total_ms: 3_000, timeouts: 1 },
      { surface: "zenml", status: "running", runs: 1, total_ms: 0, timeouts: 0 },
    ]);
    expect(byKey(await countRuns(env.DB, b))).toEqual([
      { surface: "numaflow", status: "running", runs: 1, total_ms: 0, timeouts: 0 },
      { surface: "zenml", status: "completed", runs: 1, total_ms: 1, timeouts: 0 },
    ]);
    // Finished runs' durations, newest first (a3 is still going on).
    expect(await recentDurations(env.DB, a, 10)).toEqual([20, 700, 3_000, 40]);
    expect(await recentDurations(env.DB, a, 2)).toEqual([20, 700]);

    const histograms = await durationHistograms(env.DB, a);
    const zenml = histograms.find((h) => h.surface === "zenml");
    expect(zenml).toMatchObject({ count: 3, sumSeconds: 3.06 });
    // Buckets 0.005, 0.01, 0.025 (20 ms), 0.05 (40 ms) ... 5 s (3 s), then +Inf.
    expect(zenml?.cumulative.slice(0, 4)).toEqual([0, 0, 1, 2]);
    expect(zenml?.cumulative.at(-1)).toBe(3);
    expect(histograms.find((h) => h.surface === "native")).toMatchObject({ count: 1, sumSeconds: 0.7 });

    expect(await runsSince(env.DB, a, 3_000)).toEqual({ runs: 3, last: 5_020 });
    expect(await runsSince(env.DB, a, 0)).toEqual({ runs: 5, last: 5_020 });
    expect(await runsSince(env.DB, a, 6_000)).toEqual({ runs: 0, last: null });
    expect(await runsSince(env.DB, b, 3_000)).toEqual({ runs: 1, last: null });

    expect(await pipelineOfRun(env.DB, "a3")).toBeDefined();
    const unique = crypto.randomUUID();
    await writeRunIndexRows(env.DB, [row(b, unique, { created_at: 9_000 })]);
    expect(await pipelineOfRun(env.DB, unique)).toBe(b);
  });

  it("deletes a run's row by its whole key, or by pipeline and id", async ({ expect }) => {
    const pipeline = uniquePipeline("index-delete");
    const [one, two, other] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    await writeRunIndexRows(env.DB, [
      row(pipeline, one, { created_at: 1_000 }),
      row(pipeline, two, { created_at: 2_000 }),
      row(pipeline, other, { created_at: 2_000 }),
    ]);
    await deleteRunIndex(env.DB, pipeline, one, 999); // not its key: nothing goes
    expect((await stored(pipeline, one)).results).toHaveLength(1);
    await deleteRunIndex(env.DB, pipeline, one, 1_000);
    await deleteRunIndex(env.DB, pipeline, two);
    expect((await stored(pipeline, one)).results).toEqual([]);
    expect((await stored(pipeline, two)).results).toEqual([]);
    expect((await listRuns(env.DB, pipeline, { limit: 10 })).map((r) => r.id)).toEqual([other]);
  });

  it("an id reused after its run expired indexes the new run under its own created_at", async ({ expect }) => {
    const pipeline = uniquePipeline("index-reuse");
    const id = crypto.randomUUID();
    await writeRunIndexRows(env.DB, [row(pipeline, id, { ...finished("completed", 1_000, 5), version: 8 })]);
    await deleteRunIndex(env.DB, pipeline, id, 1_000); // its retention ended
    // The new run's version starts low again: it is a new row, not an older version of the old one.
    expect(await writeRunIndexRows(env.DB, [row(pipeline, id, { created_at: 50_000, version: 1 })])).toBe(1);
    expect((await stored(pipeline, id)).results).toMatchObject([{ status: "running", created_at: 50_000, version: 1 }]);
  });
});

describe("run index query plans", () => {
  const plan = async (sql: string, ...bindings: unknown[]) =>
    (
      await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...bindings)
        .all<{ detail: string }>()
    ).results.map((r) => r.detail);

  it("serves every query of a pipeline from the primary key, and listRuns without sorting", async ({ expect }) => {
    for (const [sql, bindings] of [
      [RUN_INDEX_READS.listRuns, ["p", 10]],
      [RUN_INDEX_READS.listRunsWithStatus, ["p", "completed", 10]],
      [RUN_INDEX_READS.recentDurations, ["p", 1000]],
    ] as const) {
      const details = await plan(sql, ...bindings);
      expect(details).toEqual(["SEARCH runs USING PRIMARY KEY (pipeline=?)"]);
      expect(details.join("\n")).not.toMatch(/TEMP B-TREE/);
    }
    expect(await plan(RUN_INDEX_READS.runsSince, "p", 0)).toEqual(["SEARCH runs USING PRIMARY KEY (pipeline=? AND created_at>?)"]);
    for (const sql of [RUN_INDEX_READS.countRuns, RUN_INDEX_READS.durationHistograms]) {
      // The GROUP BY sorts the pipeline's rows by surface (a handful of groups); the rows come by the key.
      expect((await plan(sql, "p"))[0]).toBe("SEARCH runs USING PRIMARY KEY (pipeline=?)");
    }
  });

  it("keeps no index but the primary key", async ({ expect }) => {
    const { results } = await env.DB.prepare("SELECT type, name FROM sqlite_master WHERE tbl_name = 'runs' ORDER BY type, name").all();
    expect(results).toEqual([{ type: "table", name: "runs" }]);
  });
});

describe("migration 0003", () => {
  // The migrations' own SQL (as applyD1Migrations reads it) with `runs` and the names derived from
  // it (its indexes, 0003's new table) renamed, so that it runs beside the real index.
  const scratch = `runs_scratch_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const inScratch = (migration: D1Migration): D1Migration => ({
    name: migration.name,
    queries: migration.queries.map((query) => query.replace(/\bruns(?=_|\b)/g, scratch)),
  });
  const migrations = (...names: string[]) =>
    names.map((name) => {
      const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith(name));
      if (!migration) throw new Error(`no migration ${name}`);
      return inScratch(migration);
    });
  const oldUpsert = `INSERT INTO ${scratch} (pipeline, id, surface, status, run_name, created_at, finished_at, duration_ms,
      steps_executed, error, cancel_reason, expires_at, parameters_preview, result_preview, version)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (pipeline, id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
      duration_ms = excluded.duration_ms, version = excluded.version
    WHERE excluded.version >= ${scratch}.version`;
  const bindRow = (r: RunIndexRowMessage) =>
    env.DB.prepare(oldUpsert).bind(
      r.pipeline,
      r.id,
      r.surface,
      r.status,
      r.run_name,
      r.created_at,
      r.finished_at,
      r.duration_ms,
      r.steps_executed,
      r.error,
      r.cancel_reason,
      r.expires_at,
      r.parameters_preview,
      r.result_preview,
      r.version,
    );
  const all = async () => (await env.DB.prepare(`SELECT * FROM ${scratch} ORDER BY pipeline, id`).all<Record<string, unknown>>()).results;
  const schema = async () => (await env.DB.prepare("SELECT type, name FROM sqlite_master WHERE tbl_name = ? ORDER BY type, name").bind(scratch).all()).results;

  it("keeps every row written under the old schema, and leaves one b-tree", async ({ expect }) => {
    const migrationsTable = `${scratch}_migrations`;
    try {
      await applyD1Migrations(env.DB, migrations("0001", "0002"), migrationsTable);
      expect(await schema()).toEqual([
        { type: "index", name: `${scratch}_by_pipeline_created` },
        { type: "index", name: `${scratch}_by_pipeline_status` },
        { type: "index", name: `sqlite_autoindex_${scratch}_1` },
        { type: "table", name: scratch },
      ]);

      // Before: a new run's row was 4 rows written (table, PK autoindex, 2 indexes).
      const first = row("old-a", "r1", { version: 2 });
      const [inserted] = await env.DB.batch([bindRow(first)]);
      expect(inserted?.meta.rows_written).toBe(4);

      const oldRows = [
        row("old-a", "r1", { ...finished("completed", 1_000, 30), version: 6 }),
        row("old-a", "r2", { created_at: 1_000, run_name: "same-ms", parameters_preview: '{"q":"é"}' }),
        row("old-a", "r3", { ...finished("failed", 3_000, 10), error: "bad", cancel_reason: null, expires_at: 99_000 }),
        row("old-b", "r1", { ...finished("cancelled", 2_000, 5), cancel_reason: "user", surface: "native", version: 0 }),
        row("old-b", "r4", { surface: "numaflow", result_preview: "y".repeat(16_384), steps_executed: 4 }),
      ];
      await env.DB.batch(oldRows.map(bindRow));
      // A row written before 0002 added `version` has its default.
      await env.DB.prepare(
        `INSERT INTO ${scratch} (pipeline, id, surface, status, created_at, steps_executed) VALUES ('old-c', 'r5', 'zenml', 'pending', 7, 0)`,
      ).run();
      const before = await all();
      expect(before).toHaveLength(6);
      expect(before.find((r) => r.pipeline === "old-c")).toMatchObject({ version: 0, finished_at: null });

      await applyD1Migrations(env.DB, migrations("0001", "0002", "0003"), migrationsTable);

      expect(await all()).toEqual(before);
      expect(await schema()).toEqual([{ type: "table", name: scratch }]);
      const ddl = await env.DB.prepare("SELECT sql FROM sqlite_master WHERE name = ?").bind(scratch).first<{ sql: string }>();
      expect(ddl?.sql).toMatch(/PRIMARY KEY \(pipeline, created_at, id\)\s*\) WITHOUT ROWID$/);
      // The leftover temporary name is gone.
      expect(await env.DB.prepare("SELECT name FROM sqlite_master WHERE name LIKE ?").bind(`${scratch}_one_row%`).all()).toMatchObject({
        results: [],
      });
    } finally {
      await env.DB.batch([
        env.DB.prepare(`DROP TABLE IF EXISTS ${scratch}`),
        env.DB.prepare(`DROP TABLE IF EXISTS ${scratch}_one_row`),
        env.DB.prepare(`DROP TABLE IF EXISTS ${migrationsTable}`),
      ]);
    }
  });
});
