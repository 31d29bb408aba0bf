/**
 * A D1 fault seam for the run-events consumer: the real Miniflare database, whose `batch` refuses
 * (throws, as D1 does when it is down or rejects a statement) while a test says so. Installed in
 * place of the consumer's database (`runIndexDatabase.of`, src/queues/run-events-consumer.ts) and
 * put back by `restore`. Everything else (statements, reads, results) is the real database's.
 */
import { env } from "cloudflare:workers";
import { runIndexDatabase } from "../../src/queues/run-events-consumer";

export interface FaultyD1 {
  /** Refuse every batch (D1 down) until `up` is called. */
  down(): void;
  up(): void;
  /** Refuse every batch that binds this value (a row D1 will not take), whatever else it holds. */
  refuseRowsBinding(value: string): void;
  /** Batches refused so far, with when. */
  readonly refusals: { at: number; statements: number }[];
  /** Batches D1 was handed (and wrote) so far, with how many statements each. */
  readonly written: number[];
  restore(): void;
}

export function installFaultyD1(): FaultyD1 {
  const db = env.DB;
  const boundValues = new WeakMap<D1PreparedStatement, unknown[]>();
  const refusedValues = new Set<string>();
  let isDown = false;
  const refusals: { at: number; statements: number }[] = [];
  const written: number[] = [];

  const prepare = (query: string): D1PreparedStatement => {
    const statement = db.prepare(query);
    // The bound statement is the real one; only its values are remembered, to choose refusals by.
    const bind = (...values: unknown[]): D1PreparedStatement => {
      const bound = statement.bind(...values);
      boundValues.set(bound, values);
      return bound;
    };
    return new Proxy(statement, { get: (target, key) => (key === "bind" ? bind : Reflect.get(target, key, target)) });
  };
  const batch = async <T>(statements: D1PreparedStatement[]): Promise<D1Result<T>[]> => {
    const refuses = isDown || statements.some((s) => (boundValues.get(s) ?? []).some((v) => typeof v === "string" && refusedValues.has(v)));
    if (refuses) {
      refusals.push({ at: Date.now(), statements: statements.length });
      throw new Error("D1_ERROR: injected fault: the database refused the batch");
    }
    written.push(statements.length);
    return db.batch<T>(statements);
  };
  const faulty = new Proxy(db, {
    get: (target, key) => {
      if (key === "prepare") return prepare;
      if (key === "batch") return batch;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });

  const original = runIndexDatabase.of;
  runIndexDatabase.of = () => faulty;
  return {
    down: () => {
      isDown = true;
    },
    up: () => {
      isDown = false;
    },
    refuseRowsBinding: (value) => refusedValues.add(value),
    refusals,
    written,
    restore: () => {
      runIndexDatabase.of = original;
    },
  };
}
