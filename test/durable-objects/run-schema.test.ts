/**
 * The Run object's schema: a new run's tables (created in one statement each) must be exactly what
 * the migrations produce when applied in order, and an old run must migrate to them.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { apply, createSchema, createWorkTable, MIGRATIONS, WORK_TABLE_V1 } from "../../durable-objects/run/schema";
import { Sql } from "../../durable-objects/run/sql";
import { uniqueId } from "../helpers/unique";

type Columns = Record<string, { type: string; notnull: number; dflt_value: SqlStorageValue; pk: number }[]>;

/** Each table's columns in order, as SQLite sees them. */
function columnsOf(storage: SqlStorage): Columns {
  const tables = storage.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name").toArray();
  const columns: Columns = {};
  for (const { name } of tables) {
    columns[name] = storage
      .exec<{ type: string; notnull: number; dflt_value: SqlStorageValue; pk: number; name: string }>(`PRAGMA table_info(${name})`)
      .toArray()
      .map(({ name: column, type, notnull, dflt_value, pk }) => ({ column, type, notnull, dflt_value, pk }));
  }
  return columns;
}

function inFreshObject<T>(body: (storage: SqlStorage) => T): Promise<T> {
  const stub = env.RUNS.get(env.RUNS.idFromName(uniqueId("schema")));
  return runInDurableObject(stub, (_, state) => body(state.storage.sql));
}

describe("run schema", () => {
  it("creates for a new run exactly what the migrations build, work table included", async ({ expect }) => {
    const latest = await inFreshObject((storage) => {
      const sql = new Sql(storage);
      createSchema(sql);
      createWorkTable(sql);
      return columnsOf(storage);
    });
    const migrated = await inFreshObject((storage) => {
      const sql = new Sql(storage);
      apply(sql, MIGRATIONS[0]!);
      sql.run(WORK_TABLE_V1);
      for (const migration of MIGRATIONS.slice(1)) apply(sql, migration);
      return columnsOf(storage);
    });
    expect(Object.keys(latest).sort()).toEqual(["events", "results", "run", "work"]);
    expect(latest).toEqual(migrated);
  });
});
