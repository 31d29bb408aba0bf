/**
 * A typed client for edgeserve's native API (`import { EdgeserveClient } from "edgeserve/client"`),
 * for Node, browsers and Workers alike (it needs only `fetch`). Its types come from the same zod
 * schemas that validate the API and generate `/openapi.json`.
 *
 *   const client = new EdgeserveClient({ baseUrl: "http://127.0.0.1:8787", token });
 *   const run = await client.startRun("word-stats", { text: "to be or not to be" });
 *   for await (const event of client.events(run.id)) console.log(event.type);
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { ApiErrorBody, PipelineDetail, PipelineSummary, RunRecord, RunResult, StreamTicket } from "../surfaces/native/schemas";

export type { ApiErrorBody, PipelineDetail, PipelineSummary, RunRecord, RunResult, StreamTicket };

/** A ticket for one `WS /stream?ticket=` of a pipeline (ZenML's surface), and the job id the run it starts takes. */
export interface SocketTicket extends StreamTicket {
  job_id: string;
}

export interface ClientOptions {
  /** Where edgeserve is, e.g. `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** A bearer token, when the deployment has tokens. */
  token?: string;
  /** Another fetch (tests, a Worker's service binding). */
  fetch?: typeof fetch;
}

/** One event of a run, as `GET /v1/runs/{id}/events` sends it. */
export interface RunEvent {
  seq: number;
  type: string;
  at: string;
  step?: string;
  data?: Record<string, unknown>;
  /** On `result` events: the result, JSON-decoded. */
  result?: unknown;
}

/** An error answer from edgeserve: its status and its `{ code, message, details }` body. */
export class EdgeserveError extends Error {
  override readonly name = "EdgeserveError";
  // Fields declared, not constructor parameter properties: Node loads this file by stripping its
  // types, and parameter properties are not only types.
  readonly status: number;
  readonly body: ApiErrorBody;
  constructor(status: number, body: ApiErrorBody) {
    super(`${status} ${body.code}: ${body.message}`);
    this.status = status;
    this.body = body;
  }
  get code(): string {
    return this.body.code;
  }
}

const TERMINAL_EVENTS = new Set(["run_completed", "run_failed", "run_cancelled"]);

export class EdgeserveClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  private readonly options: ClientOptions;

  constructor(options: ClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  listPipelines(): Promise<PipelineSummary[]> {
    return this.json<{ pipelines: PipelineSummary[] }>("GET", "/v1/pipelines").then((r) => r.body.pipelines);
  }

  async getPipeline(name: string): Promise<PipelineDetail> {
    return (await this.json<PipelineDetail>("GET", `/v1/pipelines/${encodeURIComponent(name)}`)).body;
  }

  /**
   * Starts a run. By default edgeserve waits for it (up to the pipeline's request timeout);
   * `{ async: true }` returns at once. `idempotencyKey` makes a retried call return the same run.
   */
  async startRun(pipeline: string, input: unknown, options: { async?: boolean; idempotencyKey?: string } = {}): Promise<RunRecord> {
    const headers: Record<string, string> = {};
    if (options.async) headers.prefer = "respond-async";
    if (options.idempotencyKey) headers["idempotency-key"] = options.idempotencyKey;
    return (await this.json<RunRecord>("POST", `/v1/pipelines/${encodeURIComponent(pipeline)}/runs`, input, headers)).body;
  }

  async getRun(id: string): Promise<RunRecord> {
    return (await this.json<RunRecord>("GET", runPath(id))).body;
  }

  /** Polls the run until it has ended (or `timeoutMs` passes, then answers it as it stands). */
  async waitForRun(id: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<RunRecord> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const run = await this.getRun(id);
      if ((run.status !== "running" && run.status !== "pending") || Date.now() >= deadline) return run;
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
    }
  }

  /** A completed run's results; `undefined` while it runs. Throws `run_finished` for a failed or cancelled run. */
  async getResult(id: string): Promise<unknown[] | undefined> {
    const { status, body } = await this.json<RunResult | RunRecord>("GET", `${runPath(id)}/result`);
    return status === 202 ? undefined : (body as RunResult).results;
  }

  async cancelRun(id: string, reason?: string): Promise<RunRecord> {
    const query = reason ? `?reason=${encodeURIComponent(reason)}` : "";
    return (await this.json<RunRecord>("DELETE", `${runPath(id)}${query}`)).body;
  }

  /**
   * A stream ticket for a run (`runId` as its caller knows it: native run id, Numaflow
   * `X-Numaflow-Id` or ZenML job id): `?ticket=` opens that run's event streams, and nothing else,
   * where no Authorization header can be sent (a browser's EventSource). See `eventsUrl`.
   */
  async streamTicket(pipeline: string, runId: string): Promise<StreamTicket> {
    return (await this.json<StreamTicket>("POST", `${pipelineRunPath(pipeline, runId)}/stream-ticket`)).body;
  }

  /** A ticket for one `WS /pipelines/{pipeline}/stream?ticket=` within a minute; the run it starts takes `job_id`. */
  async socketTicket(pipeline: string): Promise<SocketTicket> {
    return (await this.json<SocketTicket>("POST", `/pipelines/${encodeURIComponent(pipeline)}/stream-ticket`)).body;
  }

  /** The URL of a run's native event stream opened by a ticket, for `new EventSource(url)`. */
  eventsUrl(pipeline: string, runId: string, ticket: string): string {
    return `${this.baseUrl}${pipelineRunPath(pipeline, runId)}/events?ticket=${encodeURIComponent(ticket)}`;
  }

  /**
   * The run's events as an async iterator. A dropped connection is resumed with `Last-Event-ID`,
   * so no event is missed or repeated; the iterator ends after the run's last event.
   */
  async *events(id: string, options: { lastEventId?: string; signal?: AbortSignal; maxReconnects?: number; pipeline?: string } = {}): AsyncGenerator<RunEvent> {
    // With its pipeline, the stream is asked of the run itself: a run started on another surface is found at once.
    const path = options.pipeline === undefined ? `${runPath(id)}/events` : `${pipelineRunPath(options.pipeline, id)}/events`;
    let lastEventId = options.lastEventId;
    let reconnects = 0;
    for (;;) {
      const headers: Record<string, string> = { accept: "text/event-stream", ...this.auth() };
      if (lastEventId) headers["last-event-id"] = lastEventId;
      let res: Response;
      try {
        res = await this.fetchImpl(`${this.baseUrl}${path}`, { headers, ...(options.signal ? { signal: options.signal } : {}) });
      } catch (error) {
        if (options.signal?.aborted || ++reconnects > (options.maxReconnects ?? 5)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * reconnects));
        continue;
      }
      if (res.status === 204) return;
      if (!res.ok) throw await errorOf(res);
      const queue: EventSourceMessage[] = [];
      const parser = createParser({ onEvent: (event) => queue.push(event) });
      const decoder = new TextDecoder();
      let ended = false;
      // A reader loop rather than `for await`: not every browser iterates a ReadableStream.
      const reader = res.body!.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
          while (queue.length > 0) {
            const message = queue.shift()!;
            if (message.id) lastEventId = message.id;
            const event = JSON.parse(message.data) as RunEvent;
            yield event;
            if (TERMINAL_EVENTS.has(event.type)) ended = true;
          }
          if (ended) {
            await reader.cancel();
            return;
          }
        }
      } catch (error) {
        if (options.signal?.aborted) throw error;
      }
      if (ended) return;
      // The stream closed before the run's last event: resume after the last one seen.
      if (++reconnects > (options.maxReconnects ?? 5)) throw new Error(`the event stream of run ${id} kept closing`);
    }
  }

  private auth(): Record<string, string> {
    return this.options.token ? { authorization: `Bearer ${this.options.token}` } : {};
  }

  private async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    const init: RequestInit = { method, headers: { ...this.auth(), ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) } };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await this.fetchImpl(`${this.baseUrl}${path}`, init);
    if (!res.ok) throw await errorOf(res);
    return { status: res.status, body: (await res.json()) as T };
  }
}

function runPath(id: string): string {
  return `/v1/runs/${encodeURIComponent(id)}`;
}

function pipelineRunPath(pipeline: string, id: string): string {
  return `/v1/pipelines/${encodeURIComponent(pipeline)}/runs/${encodeURIComponent(id)}`;
}

async function errorOf(res: Response): Promise<EdgeserveError> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as ApiErrorBody;
    if (typeof body.code === "string") return new EdgeserveError(res.status, body);
  } catch {
    // not JSON: described below
  }
  return new EdgeserveError(res.status, { code: `http_${res.status}`, message: text || res.statusText });
}
