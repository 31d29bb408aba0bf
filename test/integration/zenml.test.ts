/**
 * The ZenML surface through the Worker in workerd, on the same Run objects as the Numaflow
 * surface: /invoke sync and async, jobs (listing comes from the D1 run index), cancel, the SSE
 * stream, the WebSocket, health, info, status, metrics and concurrency stats, and FastAPI's error
 * shapes. Admission control and capture policies have suites of their own. WebSocket
 * hibernation is proven here with `evictDurableObject`: the Run object holding an idle socket is
 * evicted (a new instance answers afterwards, the runtime still holds the socket for it) and the
 * socket then runs its job to the end. test/e2e/zenml.e2e.test.ts keeps an idle socket open
 * through real hibernation under wrangler dev.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { onJournal, runStub } from "../helpers/runs";
import { readSse } from "../helpers/sse";

/** The object that hosts a ZenML job (its Run object, or its journal shard). */
const jobStub = runStub;
/** The namespace of the suite's run host (vitest.config.ts). */
const hostNamespace = (): DurableObjectNamespace => (onJournal ? env.RUN_SHARDS : env.RUNS) as unknown as DurableObjectNamespace;

/**
 * Opens `WS /stream` of `pipeline`. The job id is only told in the socket's first event, so the
 * Run object that took the socket is found by the RUNS id the Worker asked for while handing it over.
 */
async function openJobSocket(pipeline: string): Promise<{ res: Response; objectIds: DurableObjectId[] }> {
  const idFromName = vi.spyOn(hostNamespace(), "idFromName");
  try {
    const res = await call(`/pipelines/${pipeline}/stream`, { headers: { Upgrade: "websocket" } });
    const objectIds = idFromName.mock.results.flatMap((r) => (r.type === "return" ? [r.value as DurableObjectId] : []));
    return { res, objectIds };
  } finally {
    idFromName.mockRestore();
  }
}

interface PipelineResponse {
  success: boolean;
  job_id: string;
  run_id: string | null;
  results: unknown;
  error: string | null;
  execution_time: number | null;
  message: string | null;
  metadata: Record<string, unknown>;
}

const invoke = async (path: string, body: unknown) => (await post(path, body)).json() as Promise<PipelineResponse>;

describe("POST /invoke", () => {
  it("runs word-stats synchronously and answers ZenML's PipelineResponse", async ({ expect }) => {
    const res = await post("/invoke", { parameters: { text: "b a b" } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as PipelineResponse;
    expect(Object.keys(body)).toEqual(["success", "job_id", "run_id", "results", "error", "execution_time", "message", "metadata"]);
    expect(body).toMatchObject({
      success: true,
      error: null,
      message: null,
      results: {
        words: 3,
        unique: 2,
        top: [
          ["b", 2],
          ["a", 1],
        ],
      },
    });
    expect(body.run_id).toBe(body.job_id);
    expect(body.metadata).toMatchObject({
      pipeline_name: "word-stats",
      parameters_used: { text: "b a b" },
      job_id: body.job_id,
      steps_executed: 3,
      poll_url: `/jobs/${body.job_id}`,
      stream_url: `/stream/${body.job_id}`,
    });
  });

  it("returns several results as a list, and URLs under the pipeline's prefix", async ({ expect }) => {
    const body = await invoke("/pipelines/sentences/invoke?mode=sync", { parameters: { text: "A. B?" } });
    expect((body.results as unknown[]).length).toBe(2);
    expect(body.metadata.poll_url).toBe(`/pipelines/sentences/jobs/${body.job_id}`);
  });

  it("reads a query parameter given twice by its last value, as FastAPI does", async ({ expect }) => {
    const submitted = await invoke("/pipelines/sleep/invoke?mode=sync&mode=async", { parameters: { ms: 5000 } });
    expect(submitted).toMatchObject({ success: true, results: null, message: "Pipeline execution submitted successfully" });
    const res = await call(`/pipelines/sleep/jobs/${submitted.job_id}/cancel?reason=first&reason=last`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await (await call(`/pipelines/sleep/jobs/${submitted.job_id}`)).json()).toMatchObject({ status: "canceled", cancel_reason: "last" });
    const ran = await invoke("/pipelines/sleep/invoke?mode=async&mode=sync", { parameters: { ms: 0 } });
    expect(ran).toMatchObject({ success: true, results: { slept: 0 } });
  });

  it("answers async at once with the poll and stream URLs, and the job completes", async ({ expect }) => {
    const body = await invoke("/pipelines/sleep/invoke?mode=ASYNC", { parameters: { ms: 200 }, run_name: "nap" });
    expect(body).toMatchObject({ success: true, run_id: null, results: null, message: "Pipeline execution submitted successfully" });
    expect(body.metadata).toMatchObject({ estimated_timeout: 300, poll_url: `/pipelines/sleep/jobs/${body.job_id}` });
    await vi.waitFor(
      async () => {
        const job = (await (await call(`/pipelines/sleep/jobs/${body.job_id}`)).json()) as Record<string, unknown>;
        expect(job).toMatchObject({ job_id: body.job_id, status: "completed", result: { slept: 200 }, run_name: "nap", parameters: { ms: 200 } });
      },
      { timeout: 3000, interval: 50 },
    );
  });

  it("keeps an empty run_name as given, as ZenML stores it", async ({ expect }) => {
    const body = await invoke("/pipelines/sleep/invoke", { parameters: { ms: 1 }, run_name: "" });
    expect(body.success).toBe(true);
    const job = (await (await call(`/pipelines/sleep/jobs/${body.job_id}`)).json()) as { run_name: unknown };
    expect(job.run_name).toBe("");
  });
  it("reports a failed run as success:false with the error, over HTTP 200", async ({ expect }) => {
    const body = await invoke("/pipelines/test-failing/invoke", { parameters: { fail: true } });
    expect(body.success).toBe(false);
    expect(body.run_id).toBeNull();
    expect(body.error).toContain("Pipeline execution failed: step 'explode' failed: exploded on purpose");
  });

  it("reports a run that outlives its timeout as timed out, in ZenML's words on the job, its list entry and its stream", async ({ expect }) => {
    const body = await invoke("/pipelines/sleep/invoke", { parameters: { ms: 5000 }, timeout: 1 });
    expect(body).toMatchObject({ success: false, error: "Pipeline execution timed out after 1s" });
    const job = (await (await call(`/pipelines/sleep/jobs/${body.job_id}`)).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: "failed", error: "Pipeline execution timed out after 1s" });
    // The same run on the Numaflow surface: its error code says it passed its deadline.
    const fetched = await call(`/pipelines/sleep/v1/process/fetch?id=${body.job_id}`);
    expect(fetched.status).toBe(500);
    expect(await fetched.json()).toMatchObject({ error_code: "run_timeout" });
    const stream = await readSse(await call(`/pipelines/sleep/stream/${body.job_id}`));
    const failed = JSON.parse(stream.events.at(-1)!.data) as Record<string, unknown>;
    expect(failed).toMatchObject({ event_type: "pipeline_failed", error: "Pipeline execution timed out after 1s" });
    await vi.waitFor(async () => {
      const list = (await (await call("/pipelines/sleep/jobs?status=failed&limit=1000")).json()) as { jobs: Record<string, unknown>[] };
      expect(list.jobs.find((j) => j.job_id === body.job_id)).toMatchObject({ error: "Pipeline execution timed out after 1s" });
    });
  });

  it("takes a null timeout as the default, as ZenML's Optional[int] does, and a whole number in a string", async ({ expect }) => {
    const res = await post("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 0 }, timeout: null });
    expect(res.status).toBe(200);
    expect(((await res.json()) as PipelineResponse).metadata.estimated_timeout).toBe(300);
    const text = await post("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 0 }, timeout: "30" });
    expect(((await text.json()) as PipelineResponse).metadata.estimated_timeout).toBe(30);
    expect((await post("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 0 }, timeout: "soon" })).status).toBe(422);
  });

  it("creates no tracked run under capture mode none: run_id is null", async ({ expect }) => {
    const body = await invoke("/invoke", { parameters: { text: "x y" }, capture_override: { mode: "none" } });
    expect(body).toMatchObject({ success: true, run_id: null, results: { words: 2 } });
    expect(body.job_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers 422 with FastAPI's detail list for parameters that fail the schema", async ({ expect }) => {
    const res = await post("/invoke", { parameters: { text: 5, extra: 1 } });
    expect(res.status).toBe(422);
    const body = (await res.json()) as { detail: { loc: unknown[]; msg: string; type: string }[] };
    expect(body.detail.map((d) => d.loc)).toContainEqual(["body", "parameters", "text"]);
    expect(body.detail.every((d) => typeof d.msg === "string" && typeof d.type === "string")).toBe(true);
  });

  it("words 422 entries as FastAPI and Pydantic do: their types, messages and the failing input", async ({ expect }) => {
    const detailOf = async (path: string, body: unknown) => {
      const res = await post(path, body);
      expect(res.status).toBe(422);
      return ((await res.json()) as { detail: { type: string; loc: unknown[]; msg: string; input?: unknown }[] }).detail;
    };
    expect(await detailOf("/invoke", { parameters: { text: "a" }, timeout: 0 })).toEqual([
      { type: "greater_than_equal", loc: ["body", "timeout"], msg: "Input should be greater than or equal to 1", input: 0 },
    ]);
    expect(await detailOf("/invoke", { parameters: { text: "a" }, timeout: 1.5 })).toEqual([
      { type: "int_from_float", loc: ["body", "timeout"], msg: "Input should be a valid integer, got a number with a fractional part", input: 1.5 },
    ]);
    expect(await detailOf("/invoke", { parameters: { text: 5, extra: 1 } })).toEqual(
      expect.arrayContaining([
        { type: "string_type", loc: ["body", "parameters", "text"], msg: "Input should be a valid string", input: 5 },
        { type: "extra_forbidden", loc: ["body", "parameters", "extra"], msg: "Extra inputs are not permitted", input: 1 },
      ]),
    );
    expect(await detailOf("/pipelines/sleep/invoke", { parameters: {} })).toEqual([
      { type: "missing", loc: ["body", "parameters", "ms"], msg: "Field required" },
    ]);
    // No body at all: FastAPI reads it as a missing request model; the code is the one every surface gives an empty body.
    expect(await detailOf("/pipelines/sleep/invoke", "")).toEqual([{ type: "missing", loc: ["body"], msg: "Field required" }]);
    expect(await (await post("/pipelines/sleep/invoke", "")).json()).toMatchObject({ code: "malformed_json" });
    // Other surfaces keep their own details, without the failing input.
    const native = (await (await post("/v1/pipelines/sleep/runs", { ms: "soon" })).json()) as { details: Record<string, unknown>[] };
    expect(native.details).toEqual([{ path: ["ms"], message: "Invalid input: expected number, received string", code: "invalid_type" }]);
  });

  it("answers 422 for a timeout out of 1–3600 and for malformed JSON", async ({ expect }) => {
    expect((await post("/invoke", { parameters: { text: "a" }, timeout: 0 })).status).toBe(422);
    expect((await post("/invoke", { parameters: { text: "a" }, timeout: 3601 })).status).toBe(422);
    expect((await post("/invoke", "{nope")).status).toBe(422);
  });

  it("refuses a body nested deeper than 256 levels with 422, on a JSON pipeline and a bytes one (it overflowed the stack: 500, or 503 from the run)", async ({
    expect,
  }) => {
    const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    for (const path of ["/invoke", "/pipelines/bytes-upper/invoke"]) {
      const res = await post(path, `{"parameters":{"text":${nested(10_000)}}}`);
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({ code: "malformed_json", detail: [{ type: "json_invalid", loc: ["body"] }] });
    }
    // Inside the limit, the input is checked as usual (a list is not the string `text` asks for).
    expect((await post("/invoke", `{"parameters":{"text":${nested(250)}}}`)).status).toBe(422);
    const numaflow = await post("/v1/process/sync", `{"text":${nested(10_000)}}`);
    expect(numaflow.status).toBe(400);
    expect(await numaflow.json()).toMatchObject({ error_code: "malformed_json", message: "the request body nests deeper than 256 levels" });
  });
});

describe("jobs", () => {
  it("lists jobs newest first from the run index, filtered by status and limited", async ({ expect }) => {
    const first = await invoke("/pipelines/sentences/invoke", { parameters: { text: "One." } });
    const second = await invoke("/pipelines/sentences/invoke", { parameters: { text: "Two." } });
    await vi.waitFor(async () => {
      const list = (await (await call("/pipelines/sentences/jobs?status=completed&limit=2")).json()) as {
        jobs: { job_id: string; status: string }[];
        total: number;
      };
      expect(list.jobs.map((j) => j.job_id)).toEqual([second.job_id, first.job_id]);
      expect(list.total).toBe(2);
    });
  });

  it("lists a job whose previews were truncated (a large input), with the preview as text", async ({ expect }) => {
    const big = await invoke("/invoke", { parameters: { text: "word ".repeat(6_000) } });
    await vi.waitFor(async () => {
      const res = await call("/jobs?limit=50");
      expect(res.status).toBe(200);
      const list = (await res.json()) as { jobs: { job_id: string; parameters: unknown }[] };
      const job = list.jobs.find((j) => j.job_id === big.job_id);
      expect(job?.parameters).toMatch(/^\{"text":"word word .*\.\.\. \[TRUNCATED - original size: \d+ chars\]$/);
    });
  });

  it("takes any limit from 0, listing at most ZenML's 1000 jobs, and places a bad one in the query", async ({ expect }) => {
    await invoke("/pipelines/sentences/invoke", { parameters: { text: "Listed." } });
    await vi.waitFor(async () => {
      const many = await call("/pipelines/sentences/jobs?limit=5000");
      expect(many.status).toBe(200);
      expect(((await many.json()) as { total: number }).total).toBeGreaterThan(0);
    });
    expect(await (await call("/pipelines/sentences/jobs?limit=0")).json()).toEqual({ jobs: [], total: 0 });
    // FastAPI reads the last of a repeated parameter, and pydantic trims spaces.
    expect(await (await call("/pipelines/sentences/jobs?limit=5&limit=0")).json()).toEqual({ jobs: [], total: 0 });
    expect((await call("/pipelines/sentences/jobs?limit=%201")).status).toBe(200);
    // As Pydantic's lax mode reads an integer from a string: a sign is allowed.
    expect(await (await call("/pipelines/sentences/jobs?limit=%2B0")).json()).toEqual({ jobs: [], total: 0 });
    // An integer past what a double holds exactly is still an integer: all the jobs, as a large limit.
    expect((await call("/pipelines/sentences/jobs?limit=99999999999999999999")).status).toBe(200);
    expect((await call("/jobs?limit=")).status).toBe(422);
    const bad = await call("/jobs?limit=abc");
    expect(bad.status).toBe(422);
    const body = (await bad.json()) as { detail: { loc: unknown[] }[] };
    expect(body.detail[0]?.loc).toEqual(["query", "limit"]);
  });

  it("answers 400 for an unknown status and 404 for an unknown job", async ({ expect }) => {
    const bad = await call("/jobs?status=sleeping");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ detail: "Invalid status 'sleeping'" });
    const missing = await call("/jobs/no-such-job");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ detail: "Job no-such-job not found" });
  });

  it("reads the status filter in any case, and an empty one as no filter, as ZenML does", async ({ expect }) => {
    const invoked = await invoke("/pipelines/sentences/invoke", { parameters: { text: "Case." } });
    await vi.waitFor(async () => {
      const upper = (await (await call("/pipelines/sentences/jobs?status=COMPLETED&limit=1000")).json()) as { jobs: { job_id: string; status: string }[] };
      expect(upper.jobs.map((job) => job.job_id)).toContain(invoked.job_id);
      expect(upper.jobs.every((job) => job.status === "completed")).toBe(true);
    });
    const empty = await call("/pipelines/sentences/jobs?status=&limit=1000");
    expect(empty.status).toBe(200);
    expect(((await empty.json()) as { jobs: { job_id: string }[] }).jobs.map((job) => job.job_id)).toContain(invoked.job_id);
    expect(await (await call("/jobs?status=Sleeping")).json()).toMatchObject({ detail: "Invalid status 'Sleeping'" });
  });

  it("cancels a running job before its next step, and refuses to cancel it twice", async ({ expect }) => {
    const body = await invoke("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 5000 } });
    const res = await call(`/pipelines/sleep/jobs/${body.job_id}/cancel?reason=changed%20my%20mind`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ message: `Job ${body.job_id} cancelled successfully`, cancelled: true });
    const job = (await (await call(`/pipelines/sleep/jobs/${body.job_id}`)).json()) as Record<string, unknown>;
    expect(job).toMatchObject({ status: "canceled", cancel_reason: "changed my mind", result: null });
    const again = await call(`/pipelines/sleep/jobs/${body.job_id}/cancel`, { method: "POST" });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ detail: `Job ${body.job_id} could not be cancelled` });
    // As ZenML: a job it does not know could not be cancelled either.
    const unknown = await call("/jobs/unknown-job/cancel", { method: "POST" });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ detail: "Job unknown-job could not be cancelled" });
  });
});

describe("GET /stream/{id}", () => {
  it("sends retry, connected, then ZenML's named events, and closes after pipeline_completed", async ({ expect }) => {
    const body = await invoke("/invoke", { parameters: { text: "a b" } });
    const res = await call(`/stream/${body.job_id}`);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const read = await readSse(res);
    expect(read.closed).toBe(true);
    const names = read.events.map((e) => e.event);
    expect(names).toEqual([
      "connected",
      "pipeline_started",
      "step_started",
      "progress_update",
      "step_completed",
      "step_started",
      "progress_update",
      "step_completed",
      "step_started",
      "progress_update",
      "step_completed",
      "pipeline_completed",
    ]);
    const progress = read.events.filter((e) => e.event === "progress_update").map((e) => JSON.parse(e.data).data);
    // The share of steps completed when each one starts: never 100 while one is still to run.
    expect(progress[1]).toEqual({ current_step: 2, total_steps: 3, current_step_name: "count", progress_percent: 33.3 });
    expect(progress.map((p) => p.progress_percent)).toEqual([0, 33.3, 66.7]);
    const done = JSON.parse(read.events.at(-1)!.data) as Record<string, unknown>;
    expect(done).toMatchObject({
      event_type: "pipeline_completed",
      job_id: body.job_id,
      level: "info",
      error: null,
      data: {
        pipeline_name: "word-stats",
        result: {
          words: 2,
          unique: 2,
          top: [
            ["a", 1],
            ["b", 1],
          ],
        },
        steps_executed: 3,
      },
    });
    expect(read.events.slice(1).every((e) => e.id !== undefined)).toBe(true);
    // Every timestamp in Python's isoformat() of a UTC time, `connected` included.
    for (const e of read.events) expect(JSON.parse(e.data).timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  });

  it("ends a failed job's stream with pipeline_failed naming the step", async ({ expect }) => {
    const body = await invoke("/pipelines/test-failing/invoke", { parameters: { fail: true } });
    const read = await readSse(await call(`/pipelines/test-failing/stream/${body.job_id}`));
    const last = JSON.parse(read.events.at(-1)!.data) as Record<string, unknown>;
    expect(last).toMatchObject({ event_type: "pipeline_failed", level: "error", data: { failed_step: "explode" } });
    expect(read.events.map((e) => e.event)).toContain("step_failed");
  });

  it("streams a cancellation as cancellation_requested and closes", async ({ expect }) => {
    const body = await invoke("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 5000 } });
    const stream = call(`/pipelines/sleep/stream/${body.job_id}`).then((res) => readSse(res));
    await call(`/pipelines/sleep/jobs/${body.job_id}/cancel`, { method: "POST" });
    const read = await stream;
    expect(read.events.at(-1)?.event).toBe("cancellation_requested");
    // Cancelled without a reason: none is made up, as ZenML keeps `cancel_reason` as given.
    expect(JSON.parse(read.events.at(-1)!.data)).toMatchObject({ data: { reason: null } });
    expect(await (await call(`/pipelines/sleep/jobs/${body.job_id}`)).json()).toMatchObject({ status: "canceled", cancel_reason: null });
    await vi.waitFor(async () => {
      const listed = (await (await call("/pipelines/sleep/jobs?status=canceled&limit=1000")).json()) as { jobs: { job_id: string; cancel_reason: unknown }[] };
      expect(listed.jobs.find((job) => job.job_id === body.job_id)).toMatchObject({ cancel_reason: null });
    });
  });

  it("resumes after Last-Event-ID", async ({ expect }) => {
    const body = await invoke("/invoke", { parameters: { text: "x" } });
    const all = await readSse(await call(`/stream/${body.job_id}`));
    const third = all.events[3]!;
    const rest = await readSse(await call(`/stream/${body.job_id}`, { headers: { "Last-Event-ID": third.id! } }));
    expect(rest.events.slice(1).map((e) => e.data)).toEqual(all.events.filter((e) => Number(e.id) > Number(third.id)).map((e) => e.data));
  });

  it("gives every event its own id, and resuming after any of them replays exactly the events after it", async ({ expect }) => {
    const body = await invoke("/invoke", { parameters: { text: "x y" } });
    const events = (await readSse(await call(`/stream/${body.job_id}`))).events.slice(1);
    const ids = events.map((e) => e.id);
    expect(ids.every((id) => id !== undefined)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [index, seen] of events.entries()) {
      const resumed = await call(`/stream/${body.job_id}`, { headers: { "Last-Event-ID": seen.id! } });
      const after = events.slice(index + 1);
      // Everything seen of a finished run: 204, which tells an EventSource to stop reconnecting.
      if (after.length === 0) {
        expect(resumed.status, seen.event).toBe(204);
        continue;
      }
      const replay = (await readSse(resumed)).events.slice(1);
      expect(
        replay.map((e) => [e.id, e.event, e.data]),
        `after ${seen.event} ${seen.id}`,
      ).toEqual(after.map((e) => [e.id, e.event, e.data]));
    }
  });

  it("answers 404 for an unknown job", async ({ expect }) => {
    expect((await call("/stream/unknown-job")).status).toBe(404);
  });
});

describe("WS /stream", () => {
  it("starts a job from the request frame and sends each event as a JSON frame, then closes", async ({ expect }) => {
    const res = await call("/pipelines/sentences/stream", { headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const socket = res.webSocket!;
    socket.accept();
    const frames: Record<string, unknown>[] = [];
    const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
    socket.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string) as Record<string, unknown>));
    socket.send(JSON.stringify({ parameters: { text: "Hi. Why?" } }));
    expect(await closed).toBe(1000);
    expect(frames[0]).toMatchObject({ event_type: "pipeline_started", data: { pipeline_name: "sentences" } });
    expect(frames.at(-1)).toMatchObject({ event_type: "pipeline_completed" });
    expect((frames.at(-1)!.data as { result: unknown[] }).result).toHaveLength(2);
    const progress = frames.filter((f) => f.event_type === "progress_update").map((f) => (f.data as { progress_percent: number }).progress_percent);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress[0]).toBe(0);
    expect(progress.every((p) => p < 100)).toBe(true);
  });

  it("keeps an idle socket while its Run object is evicted; a new instance runs the job it is then sent", async ({ expect }) => {
    const { res, objectIds } = await openJobSocket("sentences");
    expect(res.status).toBe(101);
    expect(objectIds).toHaveLength(1);
    const runObject = () => hostNamespace().get(objectIds[0]!);
    const socket = res.webSocket!;
    socket.accept();
    const frames: Record<string, unknown>[] = [];
    let closedWith: number | null = null;
    const closed = new Promise<number>((resolve) =>
      socket.addEventListener("close", (e) => {
        closedWith = e.code;
        resolve(e.code);
      }),
    );
    socket.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string) as Record<string, unknown>));

    // Mark the instance that holds the socket now: only that instance has the marker.
    const marker = Symbol("instance before eviction");
    let first: object | undefined;
    const socketsBefore = await runInDurableObject(runObject(), (instance, state) => {
      first = instance;
      (instance as unknown as Record<symbol, boolean>)[marker] = true;
      return state.getWebSockets().length;
    });
    expect(socketsBefore).toBe(1);

    await evictDurableObject(runObject(), { webSockets: "hibernate" });

    // A new instance (no marker, another object), and the runtime still holds the socket for it.
    const after = await runInDurableObject(runObject(), (instance, state) => ({
      marked: marker in instance,
      same: instance === first,
      sockets: state.getWebSockets().length,
    }));
    expect(after).toEqual({ marked: false, same: false, sockets: 1 });
    expect(closedWith).toBeNull();
    expect(socket.readyState).toBe(WebSocket.READY_STATE_OPEN);
    expect(frames).toEqual([]);

    // The request frame reaches the new instance, which runs the job and sends all of it down the socket.
    socket.send(JSON.stringify({ parameters: { text: "Woken. Up?" } }));
    expect(await closed).toBe(1000);
    expect(frames[0]).toMatchObject({ event_type: "pipeline_started", data: { pipeline_name: "sentences" } });
    const jobId = String(frames[0]!.job_id);
    // The evicted object is that job's Run object.
    expect(jobStub("sentences", jobId).id.equals(objectIds[0]!)).toBe(true);
    expect(frames.at(-1)).toMatchObject({ event_type: "pipeline_completed", job_id: jobId });
    expect((frames.at(-1)!.data as { result: unknown[] }).result).toHaveLength(2);
    expect(await runInDurableObject(jobStub("sentences", jobId), (instance) => instance === first)).toBe(false);
  });

  it("answers an invalid request frame with an error frame and closes", async ({ expect }) => {
    const res = await call("/stream", { headers: { Upgrade: "websocket" } });
    const socket = res.webSocket!;
    socket.accept();
    const frames: Record<string, unknown>[] = [];
    const closed = new Promise<number>((resolve) => socket.addEventListener("close", (e) => resolve(e.code)));
    socket.addEventListener("message", (e) => frames.push(JSON.parse(e.data as string) as Record<string, unknown>));
    socket.send(JSON.stringify({ parameters: { text: 1 } }));
    expect(await closed).toBe(1008);
    expect(frames[0]).toMatchObject({ event: "error" });
    expect(String(frames[0]!.error)).toContain("parameters.text");
  });
});

describe("service endpoints", () => {
  it("GET /health answers healthy without a token", async ({ expect }) => {
    const body = (await (await call("/health")).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: "healthy", pipeline_name: "word-stats", deployment_id: "word-stats@1" });
    expect(typeof body.uptime).toBe("number");
  });

  it("GET /info lists the steps and the parameter schema generated from the zod schema", async ({ expect }) => {
    const body = (await (await call("/pipelines/sleep/info")).json()) as { pipeline: Record<string, unknown> };
    expect(body.pipeline).toMatchObject({
      name: "sleep",
      steps: ["sleep"],
      parameters: { ms: { type: "int", required: true } },
      parameters_schema: { type: "object", properties: { ms: { type: "integer", minimum: 0, maximum: 60000 } }, required: ["ms"] },
    });
  });

  it("GET /status describes the service with ZenML's name and version", async ({ expect }) => {
    expect(await (await call("/status")).json()).toMatchObject({
      service_name: "ZenML Pipeline Serving",
      version: "0.2.0",
      status: "running",
      deployment_id: "word-stats@1",
    });
  });

  it("GET /concurrency/stats counts executions, timeouts, the queue and refusals, with the pipeline's limits", async ({ expect }) => {
    // One run at a time, none waiting: an async run holds the slot, then a ZenML sync call and a
    // Numaflow one are refused; each 429 is counted once.
    const pipeline = "/pipelines/test-admission-alone";
    type Stats = { execution: Record<string, unknown>; jobs: Record<string, unknown>; streams: Record<string, unknown> };
    const stats = async () => (await (await call(`${pipeline}/concurrency/stats`)).json()) as Stats;
    const before = (await stats()).execution.queue_full_rejections as number;
    const holder = await invoke(`${pipeline}/invoke?mode=async`, { parameters: { ms: 3000 } });
    expect((await post(`${pipeline}/invoke`, { parameters: { ms: 0 } })).status).toBe(429);
    expect((await post(`${pipeline}/v1/process/sync`, { ms: 0 })).status).toBe(429);
    const timedOut = await invoke("/pipelines/sleep/invoke", { parameters: { ms: 5000 }, timeout: 1 });
    expect(timedOut.success).toBe(false);

    await vi.waitFor(async () => expect((await stats()).execution.queue_full_rejections).toBe(before + 2));
    const after = await stats();
    expect(Object.keys(after)).toEqual(["execution", "jobs", "streams"]);
    expect(after.execution).toMatchObject({
      queue_length: 0,
      max_concurrency: 1,
      max_queue_size: 0,
      executor_type: onJournal ? "journal-host" : "object-host",
    });
    expect(Object.keys(after.jobs)).toEqual(["total_jobs", "max_jobs", "status_counts"]);
    expect(Object.keys(after.streams)).toEqual(["total_streams", "active_streams", "total_subscribers", "default_buffer_size"]);
    expect((await call(`${pipeline}/jobs/${holder.job_id}/cancel`, { method: "POST" })).status).toBe(200);
    // The run that held the slot was admitted, not refused.
    expect((await stats()).execution.queue_full_rejections).toBe(before + 2);

    await vi.waitFor(async () => {
      const sleep = (await (await call("/pipelines/sleep/concurrency/stats")).json()) as {
        execution: {
          timeout_executions: number;
          failed_executions: number;
          execution_time_samples: number;
          execution_time_p50: number;
          execution_time_p99: number;
        };
        jobs: { status_counts: { failed: number } };
      };
      expect(sleep.execution.timeout_executions).toBeGreaterThanOrEqual(1);
      expect(sleep.execution.failed_executions).toBeGreaterThanOrEqual(sleep.execution.timeout_executions);
      expect(sleep.jobs.status_counts.failed).toBe(sleep.execution.failed_executions);
      expect(sleep.execution.execution_time_samples).toBeGreaterThanOrEqual(1);
      expect(sleep.execution.execution_time_p99).toBeGreaterThanOrEqual(sleep.execution.execution_time_p50);
    });
  });

  it("GET /redoc leads to the API reference", async ({ expect }) => {
    const res = await call("/redoc", { redirect: "manual" });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/docs");
  });

  it("under a pipeline's mount, /docs and /redoc lead to the API reference and / to the console on that pipeline", async ({ expect }) => {
    for (const path of ["/pipelines/sleep/docs", "/pipelines/sleep/redoc"]) {
      const res = await call(path, { redirect: "manual" });
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe("/docs");
    }
    for (const path of ["/pipelines/sleep", "/pipelines/sleep/"]) {
      const res = await call(path, { redirect: "manual" });
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe("/?pipeline=sleep");
    }
    // Open routes: an unknown name is led the same way, so they do not tell which pipelines exist.
    const unknown = await call("/pipelines/no-such-pipeline/docs", { redirect: "manual" });
    expect(unknown.status).toBe(302);
  });

  it("tells real times: uptime in seconds since the service started, started_at and created_at of now, not 1970", async ({ expect }) => {
    const before = Date.now();
    const health = (await (await call("/health")).json()) as { uptime: number };
    const status = (await (await call("/status")).json()) as { started_at: string };
    const info = (await (await call("/info")).json()) as { deployment: { created_at: string } };
    const after = Date.now();
    const startedAt = Date.parse(status.started_at);
    // Started within the last hour (the test run's own start), and not in the future.
    expect(startedAt).toBeGreaterThan(before - 3_600_000);
    expect(startedAt).toBeLessThanOrEqual(after);
    expect(Date.parse(info.deployment.created_at)).toBe(startedAt);
    expect(health.uptime).toBeGreaterThanOrEqual(0);
    expect(health.uptime).toBeLessThan(3600);
    // The same start: uptime is the time since started_at.
    expect(Math.abs(health.uptime - (before - startedAt) / 1000)).toBeLessThan((after - before) / 1000 + 1);
  });

  it("GET /metrics counts executions in ZenML's JSON shape", async ({ expect }) => {
    await invoke("/pipelines/test-fanout/invoke", { parameters: { n: 2 } });
    await vi.waitFor(async () => {
      const body = (await (await call("/pipelines/test-fanout/metrics")).json()) as Record<string, number>;
      expect(body.total_executions).toBeGreaterThanOrEqual(1);
      expect(body.success_rate).toBeGreaterThan(0);
      expect(Object.keys(body)).toEqual([
        "total_executions",
        "successful_executions",
        "failed_executions",
        "success_rate",
        "average_execution_time",
        "last_24h_executions",
      ]);
    });
  });

  it("GET /metrics with Accept: text/plain answers Prometheus counters and histograms per surface", async ({ expect }) => {
    await invoke("/pipelines/test-fanout/invoke", { parameters: { n: 1 } });
    await post("/pipelines/test-fanout/v1/process/sync", { n: 1 });
    await vi.waitFor(async () => {
      const res = await call("/pipelines/test-fanout/metrics", { headers: { Accept: "text/plain" } });
      expect(res.headers.get("content-type")).toContain("text/plain");
      const text = await res.text();
      expect(text).toMatch(/edgeserve_runs_total\{pipeline="test-fanout",surface="zenml",status="completed"\} \d+/);
      expect(text).toMatch(/edgeserve_runs_total\{pipeline="test-fanout",surface="numaflow",status="completed"\} \d+/);
      expect(text).toMatch(/edgeserve_run_duration_seconds_bucket\{pipeline="test-fanout",surface="zenml",le="\+Inf"\} \d+/);
      expect(text).toContain("# TYPE edgeserve_run_duration_seconds histogram");
    });
  });

  it("GET /metrics answers JSON unless the client prefers text/plain, by order and quality", async ({ expect }) => {
    const kindOf = async (accept: string) => {
      const res = await call("/pipelines/test-fanout/metrics", { headers: { Accept: accept } });
      expect(res.status).toBe(200);
      return (res.headers.get("content-type") ?? "").split(";")[0];
    };
    // axios's default, and JSON preferred by quality: JSON, as ZenML always answers.
    expect(await kindOf("application/json, text/plain, */*")).toBe("application/json");
    expect(await kindOf("text/plain;q=0.1, application/json")).toBe("application/json");
    expect(await kindOf("*/*")).toBe("application/json");
    // A Prometheus scraper's header.
    expect(await kindOf("application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1")).toBe("text/plain");
    expect(await kindOf("text/plain")).toBe("text/plain");
  });
});
