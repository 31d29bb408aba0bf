/**
 * Where a finished run's results are kept, chosen per pipeline (`resultStore` in its manifest):
 * the Run object's own SQLite (the default), Workers KV, or R2. Each store addresses a result by
 * (pipeline, run id, index); one contract (test/results/result-store-contract.test.ts) holds for all.
 *
 * While a run goes on its results are written to its SQLite in the same transaction as the rest of
 * its progress; when it ends they are copied to a KV or R2 store and read from there after.
 */
import type { ResultItem } from "../runs/protocol";

export interface RunRef {
  pipeline: string;
  runId: string;
}

export interface ResultStore {
  readonly kind: "sqlite" | "kv" | "r2";
  put(run: RunRef, index: number, item: ResultItem): Promise<void>;
  /** The result, or undefined when the store does not have it. */
  get(run: RunRef, index: number): Promise<ResultItem | undefined>;
  /** The first `count` results in order (a missing one is an error: results are written before they are listed). */
  list(run: RunRef, count: number): Promise<ResultItem[]>;
  /** Deletes the run's results (its retention has ended). */
  deleteRun(run: RunRef, count: number): Promise<void>;
}

/** A result's key in KV and R2 (run ids may hold '/', so they are encoded). */
export function resultKey(run: RunRef, index: number): string {
  return `results/${run.pipeline}/${encodeURIComponent(run.runId)}/${index}`;
}

/** KV caps a value at 25 MiB; larger results go to R2 whatever the store. */
export const KV_VALUE_MAX_BYTES = 25 * 1024 * 1024;

async function listAll(store: ResultStore, run: RunRef, count: number): Promise<ResultItem[]> {
  const items = await Promise.all(Array.from({ length: count }, (_, i) => store.get(run, i)));
  return items.map((item, i) => {
    if (!item) throw new Error(`result ${i} of run ${run.runId} is missing from the ${store.kind} store`);
    return item;
  });
}

export class KvResultStore implements ResultStore {
  readonly kind = "kv";

  /** `ttlSeconds`: KV's own expiry, a backstop behind the Run object's retention alarm. */
  constructor(
    private readonly kv: KVNamespace,
    private readonly ttlSeconds: number,
  ) {}

  async put(run: RunRef, index: number, item: ResultItem): Promise<void> {
    if (item.bytes.byteLength > KV_VALUE_MAX_BYTES) throw new Error(`a result of ${item.bytes.byteLength} bytes is over KV's value limit`);
    // KV refuses an expiration TTL under 60 s.
    await this.kv.put(resultKey(run, index), item.bytes, {
      expirationTtl: Math.max(60, this.ttlSeconds),
      metadata: { contentType: item.contentType },
    });
  }

  async get(run: RunRef, index: number): Promise<ResultItem | undefined> {
    const found = await this.kv.getWithMetadata<{ contentType?: string }>(resultKey(run, index), "arrayBuffer");
    if (found.value === null) return undefined;
    return { bytes: new Uint8Array(found.value), contentType: found.metadata?.contentType ?? "application/octet-stream" };
  }

  list(run: RunRef, count: number): Promise<ResultItem[]> {
    return listAll(this, run, count);
  }

  async deleteRun(run: RunRef, count: number): Promise<void> {
    await Promise.all(Array.from({ length: count }, (_, i) => this.kv.delete(resultKey(run, i))));
  }
}

export class R2ResultStore implements ResultStore {
  readonly kind = "r2";

  constructor(private readonly bucket: R2Bucket) {}

  async put(run: RunRef, index: number, item: ResultItem): Promise<void> {
    await this.bucket.put(resultKey(run, index), item.bytes, { httpMetadata: { contentType: item.contentType } });
  }

  async get(run: RunRef, index: number): Promise<ResultItem | undefined> {
    const object = await this.bucket.get(resultKey(run, index));
    if (!object) return undefined;
    return { bytes: new Uint8Array(await object.arrayBuffer()), contentType: object.httpMetadata?.contentType ?? "application/octet-stream" };
  }

  list(run: RunRef, count: number): Promise<ResultItem[]> {
    return listAll(this, run, count);
  }

  async deleteRun(run: RunRef, count: number): Promise<void> {
    const keys = Array.from({ length: count }, (_, i) => resultKey(run, i));
    // R2 deletes at most 1,000 keys a call.
    for (let i = 0; i < keys.length; i += 1000) await this.bucket.delete(keys.slice(i, i + 1000));
  }
}
