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
 * - `POST /do-indexed`: `/do-retained`, also listing its runs as edgeserve's run index does: the
 *   Worker gathers the finished runs' rows for 100 ms and sends them as one queue message, whose
 *   consumer writes them to D1 in one batch. The least a Worker with an eventually consistent list
 *   of its runs does: the same guarantees as edgeserve's default Run-object path, hand-written.
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
  BASELINE_INDEX: Queue<IndexRow[]>;
  BASELINE_DB: D1Database;
}

/** A finished run's row in `/do-indexed`'s list of runs. */
interface IndexRow {
  id: string;
  status: string;
  created_at: number;
  finished_at: number;
  expires_at: number;
  result_preview: string;
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

/** `/do-indexed`'s rows gathered by this isolate, sent 100 ms after the first. */
let gathering: IndexRow[] | undefined;

function sendWithOthers(env: BaselineEnv, ctx: ExecutionContext, row: IndexRow): void {
  if (gathering) {
    gathering.push(row);
    return;
  }
  const rows = [row];
  gathering = rows;
  ctx.waitUntil(
    (async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      gathering = undefined;
      await env.BASELINE_INDEX.send(rows, { contentType: "json" });
    })(),
  );
}

let tableMade = false;

async function makeTable(db: D1Database): Promise<void> {
  if (tableMade) return;
  await db.exec(
    "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, status TEXT, created_at INTEGER, finished_at INTEGER, expires_at INTEGER, result_preview TEXT) WITHOUT ROWID",
  );
  tableMade = true;
}

export default {
  async queue(batch, env) {
    await makeTable(env.BASELINE_DB);
    const upsert = env.BASELINE_DB.prepare("INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?)");
    const rows = batch.messages.flatMap((message) => message.body);
    await env.BASELINE_DB.batch(rows.map((r) => upsert.bind(r.id, r.status, r.created_at, r.finished_at, r.expires_at, r.result_preview)));
  },

  async fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/livez") return new Response(null, { status: 204 });
    // How many runs `/do-indexed` has listed: the bench checks that its rows landed.
    if (pathname === "/do-indexed/count") {
      await makeTable(env.BASELINE_DB);
      const row = await env.BASELINE_DB.prepare("SELECT count(*) AS n FROM runs").first<{ n: number }>();
      return Response.json({ listed: row?.n ?? 0 });
    }
    const input = (await request.json()) as JsonValue;
    if (pathname === "/bare") return new Response(JSON.stringify(await wordStats(input)));
    if (pathname === "/do" || pathname === "/do-retained" || pathname === "/do-indexed") {
      const id = crypto.randomUUID();
      const createdAt = Date.now();
      const stub = env.BASELINE_RUNS.get(env.BASELINE_RUNS.idFromName(id));
      const { body, rowsWritten } = await stub.run(id, input, pathname !== "/do");
      if (pathname === "/do-indexed") {
        const finishedAt = Date.now();
        sendWithOthers(env, ctx, {
          id,
          status: "completed",
          created_at: createdAt,
          finished_at: finishedAt,
          expires_at: finishedAt + RETENTION_MS,
          result_preview: body.slice(0, 256),
        });
      }
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
} satisfies ExportedHandler<BaselineEnv, IndexRow[]>;
