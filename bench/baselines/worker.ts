/**
 * The benchmark's baselines, doing the same work as edgeserve's `word-stats` (the same step
 * functions) without edgeserve:
 * - `POST /bare`: a bare Worker computing the result inline, no Durable Object (the floor);
 * - `POST /do`: what a Workers developer would write by hand: Worker → a Durable Object per
 *   request → compute → the result written as one SQLite row → answer. The response carries
 *   `x-rows-written`: the SQLite rows the object wrote for it (the sum of `cursor.rowsWritten` over
 *   its statements, DDL included, counted the way edgeserve's Run object counts its own), which
 *   `npm run bench` reports beside edgeserve's figure.
 * - `POST /do-retained`: the same object, also keeping its run only for a retention period, as
 *   edgeserve keeps each run: it sets its alarm for when the run expires, and the alarm deletes its
 *   storage. The least any object per run that cleans up after itself does.
 * - `POST /shard`: the sharded floor, the least a journal host can do: Worker → one of 16
 *   long-lived objects (by a hash of the request's id, as edgeserve's journal host picks a shard)
 *   → compute → one row inserted into a table the object made once → answer.
 */
import { DurableObject } from "cloudflare:workers";
import { count, normalise, summarise } from "../../examples/pipelines/word-stats";
import type { StepContext, StepFunction } from "../../src/pipeline/definition";
import type { JsonValue, Message } from "../../src/pipeline/message";
import { normaliseStepOutput } from "../../src/pipeline/step-output";
import { shardName } from "../../src/engine/shard-name";

interface BaselineEnv {
  BASELINE_RUNS: DurableObjectNamespace<BaselineRun>;
  BASELINE_SHARDS: DurableObjectNamespace<BaselineShard>;
}

const SHARDS = 16;
/** How long `/do-retained` keeps a run: edgeserve's default retention (EDGESERVE_RETENTION_SECONDS). */
const RETENTION_MS = 86_400_000;

const context: StepContext = { runId: "", pipeline: "word-stats", step: "", headers: {}, signal: new AbortController().signal, emit: () => undefined, env: {} };

async function wordStats(input: JsonValue): Promise<JsonValue> {
  let message: Message = { value: input, tags: [], keys: [] };
  for (const step of [normalise, count, summarise] as StepFunction[]) {
    const [next] = normaliseStepOutput(await step(message, context));
    message = next!;
  }
  return message.value as JsonValue;
}

export class BaselineRun extends DurableObject<BaselineEnv> {
  async run(id: string, input: JsonValue, retained = false): Promise<{ body: string; rowsWritten: number }> {
    const body = JSON.stringify(await wordStats(input));
    const rowsWritten =
      this.exec("CREATE TABLE IF NOT EXISTS result (id TEXT PRIMARY KEY, body TEXT)") + this.exec("INSERT INTO result (id, body) VALUES (?, ?)", id, body);
    if (retained) await this.ctx.storage.setAlarm(Date.now() + RETENTION_MS);
    return { body, rowsWritten };
  }

  /** The run has expired (`/do-retained`): nothing of it is kept. */
  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  /** Runs a statement to completion and returns the rows it wrote. */
  private exec(query: string, ...params: SqlStorageValue[]): number {
    const cursor = this.ctx.storage.sql.exec(query, ...params);
    cursor.toArray();
    return cursor.rowsWritten;
  }
}

export class BaselineShard extends DurableObject<BaselineEnv> {
  constructor(ctx: DurableObjectState, env: BaselineEnv) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS result (id TEXT PRIMARY KEY, body TEXT)");
  }

  async run(id: string, input: JsonValue): Promise<string> {
    const body = JSON.stringify(await wordStats(input));
    this.ctx.storage.sql.exec("INSERT INTO result (id, body) VALUES (?, ?)", id, body);
    return body;
  }
}

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/livez") return new Response(null, { status: 204 });
    const input = (await request.json()) as JsonValue;
    if (pathname === "/bare") return new Response(JSON.stringify(await wordStats(input)));
    if (pathname === "/do" || pathname === "/do-retained") {
      const id = crypto.randomUUID();
      const stub = env.BASELINE_RUNS.get(env.BASELINE_RUNS.idFromName(id));
      const { body, rowsWritten } = await stub.run(id, input, pathname === "/do-retained");
      return new Response(body, { headers: { "x-rows-written": String(rowsWritten) } });
    }
    if (pathname === "/shard") {
      const id = crypto.randomUUID();
      // Picked as edgeserve's journal host picks a run's shard.
      const stub = env.BASELINE_SHARDS.get(env.BASELINE_SHARDS.idFromName(shardName("baseline", id, SHARDS)));
      return new Response(await stub.run(id, input));
    }
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<BaselineEnv>;
