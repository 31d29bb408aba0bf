/**
 * Capture policies, observed from outside: what /jobs/{id}, the native run record and the job
 * list show under each policy (full, sampled, errors_only, metadata, none), redaction,
 * truncation, step-level policies and their precedence, and the BATCH/REALTIME/OFF runtimes.
 * The answer itself (a job's result) is always given; under a policy that keeps no payloads, a
 * sync run's input and results are not kept once it has been sent (an async run's are, until
 * retention: fetching them is how it is answered).
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, it, vi } from "vitest";
import { call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { holdStage, type Gate } from "../helpers/test-pipelines";
import { runStub } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

interface Invoked {
  job_id: string;
  success: boolean;
}

const invoke = async (pipeline: string, parameters: unknown, extra: Record<string, unknown> = {}) =>
  (await (await post(`/pipelines/${pipeline}/invoke`, { parameters, ...extra })).json()) as Invoked;
const job = async (pipeline: string, id: string) => (await (await call(`/pipelines/${pipeline}/jobs/${id}`)).json()) as Record<string, unknown>;
const record = async (pipeline: string, id: string) =>
  (await (await call(`/v1/pipelines/${pipeline}/runs/${id}`)).json()) as {
    capture: { mode: string; payloads: boolean; parameters: unknown; steps: { step: string; input?: unknown; output?: unknown }[] };
    results: unknown[];
  };
const listed = async (pipeline: string) =>
  ((await (await call(`/pipelines/${pipeline}/jobs?limit=1000`)).json()) as { jobs: { job_id: string; parameters: unknown; result: unknown }[] }).jobs;

describe("capture policies", () => {
  it("full: keeps the parameters (redacted) and each step's input and output", async ({ expect }) => {
    const { job_id } = await invoke("test-echo", { user: "ann", password: "hunter2", nested: { apiToken: "t", n: 1 } });
    const expected = { user: "ann", password: "[REDACTED]", nested: { apiToken: "[REDACTED]", n: 1 } };
    expect((await job("test-echo", job_id)).parameters).toEqual(expected);
    const run = await record("test-echo", job_id);
    expect(run.capture).toMatchObject({ mode: "full", payloads: true, parameters: expected });
    expect(run.capture.steps.find((s) => s.step === "open")).toEqual({ step: "open", status: "completed", input: expected, output: expected });
    await vi.waitFor(async () => expect((await listed("test-echo")).find((j) => j.job_id === job_id)?.parameters).toEqual(expected));
  });

  it("a step's own policy keeps its values out, even when the request asks for full capture (ZenML: step > request)", async ({ expect }) => {
    const { job_id } = await invoke("test-echo", { a: 1 });
    const hidden = (await record("test-echo", job_id)).capture.steps.find((s) => s.step === "hidden");
    expect(hidden).toEqual({ step: "hidden", status: "completed" });
    const overridden = await invoke("test-echo", { a: 1 }, { capture_override: { mode: "full" } });
    const steps = (await record("test-echo", overridden.job_id)).capture.steps;
    expect(steps.find((s) => s.step === "hidden")).toEqual({ step: "hidden", status: "completed" });
    // The request's override still rules the steps that say nothing.
    expect(steps.find((s) => s.step === "open")).toMatchObject({ input: { a: 1 }, output: { a: 1 } });
  });

  it("a stream shows the parameters and step values as capture kept them, never what it redacted or dropped", async ({ expect }) => {
    const redacted = await invoke("test-echo", { user: "ann", password: "hunter2" });
    const events = (await readSse(await call(`/pipelines/test-echo/stream/${redacted.job_id}`))).events.map(
      (e) => JSON.parse(e.data) as { event_type?: string; data: Record<string, unknown> },
    );
    const expected = { user: "ann", password: "[REDACTED]" };
    expect(events.find((e) => e.event_type === "pipeline_started")?.data.parameters).toEqual(expected);
    expect(events.find((e) => e.event_type === "step_completed")?.data.output).toEqual(expected);
    // Only the result carries it: the job's answer, as `/jobs/{id}` gives it too.
    expect(JSON.stringify(events.filter((e) => e.event_type !== "pipeline_completed"))).not.toContain("hunter2");
    expect(events.find((e) => e.event_type === "pipeline_completed")?.data.result).toEqual({ user: "ann", password: "hunter2" });

    const submitted = (await (
      await post("/pipelines/test-echo/invoke?mode=async", { parameters: { user: "bo" }, capture_override: { mode: "metadata" } })
    ).json()) as Invoked;
    const quiet = (await readSse(await call(`/pipelines/test-echo/stream/${submitted.job_id}`))).events.map(
      (e) => JSON.parse(e.data) as { event_type?: string; data: Record<string, unknown> },
    );
    expect(quiet.find((e) => e.event_type === "pipeline_started")?.data.parameters).toBeNull();
    // The result itself is the async job's answer: kept, and streamed, whatever the policy.
    expect(quiet.find((e) => e.event_type === "pipeline_completed")?.data.result).toEqual({ user: "bo" });
  });

  it("a step's own redaction does not undo the request's: both apply to the step's values", async ({ expect }) => {
    const { job_id } = await invoke("test-echo-redacting", { email: "a@b.c", ssn: "123", n: 1 }, { capture_override: { redact: ["email", "ssn"] } });
    const step = (await record("test-echo-redacting", job_id)).capture.steps.find((s) => s.step === "masked");
    expect(step?.input).toEqual({ email: "[REDACTED]", ssn: "[REDACTED]", n: 1 });
  });

  it("metadata: statuses and timings, no payloads; the sync answer has the result, the job no longer", async ({ expect }) => {
    const answer = await invoke("test-echo", { a: 1 }, { capture_override: { mode: "metadata" } });
    expect(answer).toMatchObject({ success: true, results: { a: 1 } });
    const { job_id } = answer;
    const found = await job("test-echo", job_id);
    expect(found).toMatchObject({ status: "completed", parameters: null, result: null });
    const run = await record("test-echo", job_id);
    expect(run.capture).toMatchObject({ mode: "metadata", payloads: false, parameters: null });
    expect(run.capture.steps.every((s) => !("input" in s) && !("output" in s))).toBe(true);
    await vi.waitFor(async () => {
      const entry = (await listed("test-echo")).find((j) => j.job_id === job_id);
      expect(entry).toMatchObject({ parameters: null, result: null });
    });
  });

  it("errors_only: nothing for a run that succeeds, the payloads of one that fails", async ({ expect }) => {
    const ok = await invoke("test-failing", { fail: false }, { capture_override: { mode: "errors_only" } });
    expect((await job("test-failing", ok.job_id)).parameters).toBeNull();
    const bad = await invoke("test-failing", { fail: true }, { capture_override: { mode: "errors_only" } });
    expect((await job("test-failing", bad.job_id)).parameters).toEqual({ fail: true });
    const failedStep = (await record("test-failing", bad.job_id)).capture.steps.find((s) => s.step === "explode");
    expect(failedStep).toEqual({ step: "explode", status: "failed", input: { fail: true } });
  });

  it("sampled: behaves as full when the run is sampled and as metadata when it is not", async ({ expect }) => {
    const always = await invoke("test-echo", { a: 1 }, { capture_override: { mode: "sampled", sample_rate: 1 } });
    expect((await record("test-echo", always.job_id)).capture).toMatchObject({ mode: "sampled", payloads: true, parameters: { a: 1 } });
    const never = await invoke("test-echo", { a: 1 }, { capture_override: { mode: "sampled", sample_rate: 0 } });
    expect((await record("test-echo", never.job_id)).capture).toMatchObject({ mode: "sampled", payloads: false, parameters: null });
  });

  it("none: no payloads and no index row, yet the job answers with its result", async ({ expect }) => {
    const answer = await invoke("test-echo", { a: 2 }, { capture_override: { mode: "none" } });
    expect(answer).toMatchObject({ success: true, results: { a: 2 } });
    const { job_id } = answer;
    expect(await job("test-echo", job_id)).toMatchObject({ parameters: null, result: null });
    // Another run's index write lands after this one's would have: then this one is surely absent.
    const later = await invoke("test-echo", { a: 3 });
    await vi.waitFor(async () => expect((await listed("test-echo")).map((j) => j.job_id)).toContain(later.job_id));
    expect((await listed("test-echo")).map((j) => j.job_id)).not.toContain(job_id);
  });

  it("truncates previews over max_bytes with ZenML's marker", async ({ expect }) => {
    const { job_id } = await invoke("test-echo", { text: "x".repeat(5000) }, { capture_override: { max_bytes: 1024 } });
    const parameters = (await job("test-echo", job_id)).parameters as string;
    expect(parameters).toMatch(/\.\.\. \[TRUNCATED - original size: 5011 chars\]$/);
  });

  it("rejects an invalid capture_override with 422", async ({ expect }) => {
    const res = await post("/pipelines/test-echo/invoke", { parameters: {}, capture_override: { mode: "everything" } });
    expect(res.status).toBe(422);
  });

  it("ignores a capture_override key that names no policy field, as ZenML does, and applies the rest", async ({ expect }) => {
    const res = await post("/pipelines/test-echo/invoke", {
      parameters: { a: 1 },
      capture_override: { mode: "metadata", artifacts: "none", retention_days: 7, step_timings: true },
    });
    expect(res.status).toBe(200);
    const { job_id } = (await res.json()) as Invoked;
    expect((await record("test-echo", job_id)).capture).toMatchObject({ mode: "metadata", payloads: false, parameters: null });
  });
});

/**
 * Waits until a REALTIME run started now is in the run index. Rows travel through one queue, in
 * order: once this one is in D1, any row a run sent before it (an OFF run's, a running BATCH
 * run's) would be there too. Returns the marker run's id. (A sleep run, not test-echo: the
 * truncated preview the test above leaves in test-echo's index makes that listing answer 500.)
 */
async function indexCaughtUp(): Promise<string> {
  const marker = await invoke("sleep", { ms: 0 });
  await vi.waitFor(
    async () => {
      if (!(await listed("sleep")).some((j) => j.job_id === marker.job_id)) throw new Error("marker run not indexed yet");
    },
    { timeout: 3000, interval: 20 },
  );
  return marker.job_id;
}

// A test that fails while its run is held still lets the run go on, so it does not linger.
const openGates: Gate[] = [];
afterEach(() => {
  for (const gate of openGates.splice(0)) gate.open();
});

/** Every entry of the run's object, as text (to look for a payload in it). */
function storedText(pipeline: string, id: string): Promise<string> {
  return runInDurableObject(runStub(pipeline, id), (_, state) =>
    JSON.stringify([...state.storage.kv.list()], (_key, value: unknown) => (value instanceof Uint8Array ? new TextDecoder().decode(value) : value)),
  );
}

describe("payloads after the sync answer", () => {
  const policies = [
    { name: "metadata", pipeline: "test-echo", override: { mode: "metadata" } },
    { name: "errors_only (a run that succeeds)", pipeline: "test-echo", override: { mode: "errors_only" } },
    { name: "sampled (a run not sampled)", pipeline: "test-echo", override: { mode: "sampled", sample_rate: 0 } },
    { name: "none", pipeline: "test-echo", override: { mode: "none" } },
  ];
  for (const { name, pipeline, override } of policies) {
    it(`${name}: answers with the result, then keeps neither the input nor the result`, async ({ expect }) => {
      const marker = uniqueId("payload");
      const answer = await invoke(pipeline, { marker }, { capture_override: override });
      expect(answer).toMatchObject({ success: true, results: { marker } });
      expect(await job(pipeline, answer.job_id)).toMatchObject({ status: "completed", parameters: null, result: null });
      expect((await record(pipeline, answer.job_id)).results).toBeNull();
      const fetched = await call(`/pipelines/${pipeline}/v1/process/fetch?id=${answer.job_id}`);
      expect(fetched.status).toBe(410);
      expect(await fetched.text()).toContain("not kept once its sync answer was sent");
      expect(await storedText(pipeline, answer.job_id)).not.toContain(marker);
    });
  }

  it("full: the result stays readable after the sync answer", async ({ expect }) => {
    const marker = uniqueId("payload");
    const answer = await invoke("test-echo", { marker });
    expect(await job("test-echo", answer.job_id)).toMatchObject({ result: { marker } });
  });

  it("an async run keeps its result under metadata, for it to be fetched", async ({ expect }) => {
    const marker = uniqueId("payload");
    const res = await post("/pipelines/test-echo/invoke?mode=async", { parameters: { marker }, capture_override: { mode: "metadata" } });
    const { job_id } = (await res.json()) as Invoked;
    await vi.waitFor(async () => expect(await job("test-echo", job_id)).toMatchObject({ status: "completed", result: { marker } }), {
      timeout: 3000,
      interval: 50,
    });
  });
});

describe("runtime modes", () => {
  it("OFF: runs keep their results but never appear in the run index", async ({ expect }) => {
    const first = await invoke("test-unindexed", { a: 1 });
    expect(await job("test-unindexed", first.job_id)).toMatchObject({ status: "completed", result: { a: 1 } });
    await indexCaughtUp();
    expect(await listed("test-unindexed")).toEqual([]);
  });

  it("BATCH: a running job is indexed only once it has ended; REALTIME indexes it while it runs", async ({ expect }) => {
    // The BATCH run is held at its first step, so it is running for as long as the test needs.
    const hold = uniqueId("batch");
    const gate = holdStage(hold);
    openGates.push(gate);
    const res = await post("/pipelines/test-batch/invoke?mode=async", { parameters: { a: 1, hold } });
    const { job_id } = (await res.json()) as Invoked;
    await gate.reached();

    // A REALTIME run started after it is indexed while it runs; by then a row the BATCH run had
    // sent when it started would be in the index too (one queue, in order).
    const realtime = (await (await post("/pipelines/sleep/invoke?mode=async", { parameters: { ms: 1000 } })).json()) as Invoked;
    await vi.waitFor(
      async () => {
        const running = (await (await call("/pipelines/sleep/jobs?status=running")).json()) as { jobs: { job_id: string }[] };
        expect(running.jobs.map((j) => j.job_id)).toContain(realtime.job_id);
      },
      { timeout: 3000 },
    );
    expect((await listed("test-batch")).map((j) => j.job_id)).not.toContain(job_id);
    expect(await job("test-batch", job_id)).toMatchObject({ status: "running" });

    gate.open();
    await vi.waitFor(async () => expect((await listed("test-batch")).map((j) => j.job_id)).toContain(job_id), { timeout: 3000 });
  });
});
