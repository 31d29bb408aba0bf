/**
 * One contract for every result store (the Run object's SQLite, Workers KV, R2), run against each
 * with real bindings from Miniflare: what is put is got back byte for byte with its content type,
 * listed in order, missing results read as undefined, and a run's results go when it is deleted.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { KvResultStore, R2ResultStore, type ResultStore, type RunRef } from "../../src/results/result-store";
import { SqliteResultStore } from "../../durable-objects/run/result-store";
import { createSchema } from "../../durable-objects/run/schema";
import { Sql } from "../../durable-objects/run/sql";
import { uniqueId } from "../helpers/unique";

type Use = <T>(body: (store: ResultStore) => Promise<T>) => Promise<T>;

const stores: Record<string, Use> = {
  // The SQLite store lives in a Run object: each check runs inside a fresh one.
  sqlite: (body) =>
    runInDurableObject(env.RUNS.get(env.RUNS.idFromName(uniqueId("store"))), async (_, state) => {
      const sql = new Sql(state.storage.sql);
      createSchema(sql);
      return body(new SqliteResultStore(sql, { fresh: false }));
    }),
  kv: (body) => body(new KvResultStore(env.RESULTS_KV, 3600)),
  r2: (body) => body(new R2ResultStore(env.RESULTS_BUCKET)),
};

const bytes = (text: string) => new TextEncoder().encode(text);
const run = (): RunRef => ({ pipeline: "contract", runId: uniqueId("run/with/slashes") });

describe.each(Object.keys(stores))("result store contract: %s", (kind) => {
  const use = stores[kind]!;

  it("gets back what was put, byte for byte, with its content type", async ({ expect }) => {
    await use(async (store) => {
      const ref = run();
      const binary = new Uint8Array([0, 255, 1, 254, 10, 13]);
      await store.put(ref, 0, { bytes: bytes('{"a":1}'), contentType: "application/json" });
      await store.put(ref, 1, { bytes: binary, contentType: "application/octet-stream" });
      expect(await store.get(ref, 0)).toEqual({ bytes: bytes('{"a":1}'), contentType: "application/json" });
      expect(await store.get(ref, 1)).toEqual({ bytes: binary, contentType: "application/octet-stream" });
    });
  });

  it("lists a run's results in index order", async ({ expect }) => {
    await use(async (store) => {
      const ref = run();
      for (const i of [2, 0, 1]) await store.put(ref, i, { bytes: bytes(`r${i}`), contentType: "text/plain" });
      const listed = await store.list(ref, 3);
      expect(listed.map((item) => new TextDecoder().decode(item.bytes))).toEqual(["r0", "r1", "r2"]);
    });
  });

  it("reads a result that is not there as undefined", async ({ expect }) => {
    await use(async (store) => {
      expect(await store.get(run(), 7)).toBeUndefined();
    });
  });

  it("deletes a run's results", async ({ expect }) => {
    await use(async (store) => {
      const ref = run();
      await store.put(ref, 0, { bytes: bytes("gone"), contentType: "text/plain" });
      await store.deleteRun(ref, 1);
      expect(await store.get(ref, 0)).toBeUndefined();
    });
  });

  it("keeps results over a megabyte whole", async ({ expect }) => {
    await use(async (store) => {
      const ref = run();
      const big = new Uint8Array(2_500_000).map((_, i) => i % 251);
      await store.put(ref, 0, { bytes: big, contentType: "application/octet-stream" });
      const back = await store.get(ref, 0);
      expect(back?.bytes.byteLength).toBe(big.byteLength);
      // Compared in a loop: a deep equality over 2.5 million elements takes seconds.
      expect(back !== undefined && back.bytes.every((b, i) => b === big[i])).toBe(true);
    });
  });
});
