/**
 * One contract for every result store (the Run object's own storage, Workers KV, R2), run against each
 * with real bindings from Miniflare: what is put is got back byte for byte with its content type,
 * listed in order, missing results read as undefined, and a run's results go when it is deleted.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import { KvResultStore, R2ResultStore, type ResultStore, type RunRef } from "../../src/results/result-store";
import { storeMessage } from "../../src/pipeline/message";
import type { ResultItem } from "../../src/runs/protocol";
import { LocalResultStore } from "../../durable-objects/run/result-store";
import { RunRecord } from "../../durable-objects/run/run-record";
import { RunStore } from "../../durable-objects/run/run-store";
import { uniqueId } from "../helpers/unique";

type Use = <T>(body: (store: ResultStore) => Promise<T>) => Promise<T>;

const stores: Record<string, Use> = {
  // The run's own store lives in a Run object: each check runs inside a fresh one.
  sqlite: (body) =>
    runInDurableObject(env.RUNS.get(env.RUNS.idFromName(uniqueId("store"))), async (_, state) => body(new StoredRunResults(new RunStore(state.storage)))),
  kv: (body) => body(new KvResultStore(env.RESULTS_KV, 3600)),
  r2: (body) => body(new R2ResultStore(env.RESULTS_BUCKET)),
};

/**
 * The run's own result store as a run uses it, across instances: every write is saved with the
 * run's entry (as a burst would), every read goes through a record loaded afresh from storage.
 */
class StoredRunResults implements ResultStore {
  readonly kind = "sqlite";
  constructor(private readonly store: RunStore) {}

  private loaded(): LocalResultStore {
    const record = RunRecord.load(this.store) ?? newRecord();
    return new LocalResultStore(this.store, record);
  }

  async put(_run: RunRef, index: number, item: ResultItem): Promise<void> {
    const record = RunRecord.load(this.store) ?? newRecord();
    new LocalResultStore(this.store, record).append(index, item);
    record.save(this.store);
  }

  get(run: RunRef, index: number): Promise<ResultItem | undefined> {
    return this.loaded().get(run, index);
  }

  list(run: RunRef, count: number): Promise<ResultItem[]> {
    return this.loaded().list(run, count);
  }

  deleteRun(run: RunRef, count: number): Promise<void> {
    return this.loaded().deleteRun(run, count);
  }
}

function newRecord(): RunRecord {
  return RunRecord.create({
    id: "contract",
    pipeline: "contract",
    surface: "native",
    runName: null,
    headers: {},
    input: storeMessage({ value: null, tags: [], keys: [] }),
    createdAt: Date.now(),
    deadlineAt: Date.now() + 60_000,
    capture: { fallback: { mode: "full", sampleRate: 1, maxBytes: 262_144, redact: [] }, runtime: "REALTIME", sampleFraction: 0 },
    admission: null,
  });
}

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
      expect(back?.bytes.every((b, i) => b === big[i])).toBe(true);
    });
  });
});
