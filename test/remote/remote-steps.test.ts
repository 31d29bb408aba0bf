/**
 * Remote steps inside workerd against a real StateFun function server (test/functions/, StateFun's
 * JavaScript SDK in Node, started by the global setup): the protocol, per-address state across
 * runs and its handshake, batching and backpressure at one address, retries, timeouts, payload
 * limits, delayed messages and messages between functions.
 */
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { findPipeline } from "../../src/catalog";
import type { RemoteStepDefinition } from "../../src/pipeline/definition";
import { buildInvocation } from "../../src/remote/invocation";
import { bodyText, call, post } from "../helpers/http";
import { eventsOf, recordWhen, ended, type RunRecordJson } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

async function sync(pipeline: string, input: unknown, id = uniqueId(pipeline)) {
  const res = await post(`/pipelines/${pipeline}/v1/process/sync`, input, { "X-Numaflow-Id": id });
  return { id, res, record: await recordWhen(pipeline, id, ended) };
}

const results = (record: RunRecordJson) => record.results as unknown[];
const errorOf = (record: RunRecordJson) => (record.error as { message: string } | null)?.message ?? "";

async function serverStats(): Promise<Record<string, number>> {
  return (await (await fetch(`${String(env.EDGESERVE_FUNCTIONS_URL)}/_stats`)).json()) as Record<string, number>;
}

/** How many invocations test/counter ran at `test/counter/<id>` (handshakes are not invocations). */
async function counterCalls(id: string): Promise<number> {
  const calls = (await (await fetch(`${String(env.EDGESERVE_FUNCTIONS_URL)}/_calls`)).json()) as Record<string, number>;
  return calls[`test/counter/${id}`] ?? 0;
}

/** Closes or opens a gate of the function server (requests to `/gate/<name>/…` wait while it is closed). */
async function gate(name: string, action: "close" | "open"): Promise<void> {
  const res = await fetch(`${String(env.EDGESERVE_FUNCTIONS_URL)}/_gates/${name}/${action}`, { method: "POST" });
  await res.body?.cancel();
}

async function startAsync(pipeline: string, input: unknown, id = uniqueId(pipeline)): Promise<string> {
  const res = await post(`/pipelines/${pipeline}/v1/process/async`, input, { "X-Numaflow-Id": id });
  await res.body?.cancel();
  if (res.status !== 200) throw new Error(`starting ${pipeline} answered ${res.status}`);
  return id;
}

const counterAddress = (id: string) => env.FUNCTIONS.get(env.FUNCTIONS.idFromName(`test/counter/${id}`));

/** The run ids of the invocations waiting in the mailbox (or the outcomes waiting in the outbox) of `test/counter/<id>`. */
function waitingAt(id: string, table: "mailbox" | "outbox" = "mailbox"): Promise<string[]> {
  return runInDurableObject(counterAddress(id), (_, state) => {
    const found = state.storage.sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", table).toArray();
    if (found.length === 0) return [];
    return state.storage.sql
      .exec<{ run_id: string }>(`SELECT run_id FROM ${table} ORDER BY ${table === "mailbox" ? "seq" : "key"}`)
      .toArray()
      .map((r) => r.run_id);
  });
}
const mailboxOf = (id: string) => waitingAt(id, "mailbox");

describe("remote steps (StateFun request-reply)", () => {
  it("greets with a per-name counter kept in StateFun state across runs", async ({ expect }) => {
    const name = uniqueId("Ada");
    const first = await sync("greeter", { name });
    expect(await bodyText(first.res)).toBe(JSON.stringify({ greeting: `Hello ${name}, I have seen you 1 times` }));
    const second = await sync("greeter", { name });
    expect(results(second.record)).toEqual([{ greeting: `Hello ${name}, I have seen you 2 times` }]);
    const other = await sync("greeter", { name: `${name}-other` });
    expect(results(other.record)).toEqual([{ greeting: `Hello ${name}-other, I have seen you 1 times` }]);
    // The first call to a fresh address went through the handshake: the SDK asked for `seen`.
    const started = (await eventsOf("greeter", first.id)).find((e) => e.type === "step_started" && e.step === "greet");
    expect(started?.data?.address).toBe(`example/greeter/${name}`);
  });

  it("keeps one request in flight per address and batches what arrives meanwhile, losing no update", async ({ expect }) => {
    const key = uniqueId("k");
    const { record, id } = await sync("test-remote-counter", { key, n: 20 });
    expect(record.status).toBe("completed");
    const counts = results(record)
      .map((r) => (r as { n: number }).n)
      .sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const batches = (await eventsOf("test-remote-counter", id))
      .filter((e) => e.type === "step_completed" && e.step === "count")
      .map((e) => e.data?.batch as number);
    expect(batches).toHaveLength(20);
    expect(Math.max(...batches)).toBeGreaterThan(1);
  });

  it("holds callers back when an address's mailbox is full, and drops nothing", async ({ expect }) => {
    const { record } = await sync("test-remote-backpressure", { key: uniqueId("bp"), n: 12 });
    expect(record.status).toBe("completed");
    expect(
      results(record)
        .map((r) => (r as { n: number }).n)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(Number(record.steps.count?.heldBack ?? 0)).toBeGreaterThan(0);
  });

  it("retries 5xx answers within the call budget", async ({ expect }) => {
    const { record } = await sync("test-remote-flaky", { key: uniqueId("flaky"), n: 1 });
    expect(record).toMatchObject({ status: "completed", results: [{ n: 1, value: "m0" }] });
    // Two 503s, then the handshake (state `n` was missing) and the invocation.
    expect((await serverStats())["/flaky/2/counter"]).toBe(4);
  });

  it("fails the run naming the function, the URL and the last cause when the call budget runs out", async ({ expect }) => {
    const { record } = await sync("test-remote-stall", { key: uniqueId("stall"), n: 1 });
    expect(record.status).toBe("failed");
    const url = `${String(env.EDGESERVE_FUNCTIONS_URL)}/stall/3000/counter`;
    expect(errorOf(record)).toBe(
      `step 'count' failed: remote function test/counter at ${url} failed: no successful answer within the call timeout (1000 ms); last cause: no answer within 1000 ms`,
    );
    const unavailable = await sync("test-remote-unavailable", { key: uniqueId("503"), n: 1 });
    expect(errorOf(unavailable.record)).toContain("last cause: HTTP 503");
  });

  it("fails at once on a 4xx StateFun does not retry, and on a wrong content type", async ({ expect }) => {
    const bad = await sync("test-remote-bad-request", { key: uniqueId("400"), n: 1 });
    expect(errorOf(bad.record)).toContain("failed: HTTP 400");
    expect((await serverStats())["/status/400/counter"]).toBe(1);
    const text = await sync("test-remote-text", { key: uniqueId("text"), n: 1 });
    expect(errorOf(text.record)).toContain("the answer's content type is 'text/plain', not application/octet-stream");
  });

  it("takes an empty answer as a result with no side effects, as StateFun's clients do", async ({ expect }) => {
    const { record } = await sync("test-remote-empty", { key: uniqueId("empty"), n: 1 });
    expect(record).toMatchObject({ status: "completed", results: [] });
  });

  it("on the async transport, gives each attempt what is left of the call budget, in one request", async ({ expect }) => {
    // The function answers after 1.2 s; the budget is 3 s and connect 500 ms: one request, no retry.
    const { record } = await sync("test-remote-async-slow", { key: uniqueId("async"), n: 1 });
    expect(record).toMatchObject({ status: "completed", results: [{ n: 1, value: "m0" }] });
    // The handshake (state `n` was missing) and the invocation: two requests, neither cut short.
    expect((await serverStats())["/stall/1200/counter"]).toBe(2);
  });

  it("on the async transport, retries every non-2xx answer until the call budget is spent", async ({ expect }) => {
    const before = (await serverStats())["/status/400/counter"] ?? 0;
    const { record } = await sync("test-remote-async-400", { key: uniqueId("async400"), n: 1 });
    expect(errorOf(record)).toContain("no successful answer within the call timeout (1000 ms); last cause: HTTP 400");
    expect(((await serverStats())["/status/400/counter"] ?? 0) - before).toBeGreaterThan(2);
  });

  it("retries an answer cut while it is read on the async transport, and not on OkHttp's, as StateFun's transports do", async ({ expect }) => {
    const before = (await serverStats())["/cut/counter"] ?? 0;
    const async = await sync("test-remote-async-cut", { key: uniqueId("asynccut"), n: 1 });
    // Retried until the budget was spent; the last attempt, given what was left of it, may end cut
    // or timed out (async does not retry a timeout), whichever came first.
    expect(errorOf(async.record)).toMatch(/the answer was cut while it was read|no answer within \d+ ms/);
    const afterAsync = (await serverStats())["/cut/counter"] ?? 0;
    expect(afterAsync - before).toBeGreaterThan(2);
    const okhttp = await sync("test-remote-cut", { key: uniqueId("cut"), n: 1 });
    expect(errorOf(okhttp.record)).toContain("the answer was cut while it was read");
    expect(((await serverStats())["/cut/counter"] ?? 0) - afterAsync).toBe(1);
  });

  it("fails clearly when an answer exceeds payload_max_bytes", async ({ expect }) => {
    const small = await sync("test-remote-big", { size: 100 });
    expect(results(small.record)).toEqual(["x".repeat(100)]);
    const big = await sync("test-remote-big", { size: 2000 });
    expect(big.record.status).toBe("failed");
    expect(errorOf(big.record)).toContain("the answer exceeds payload_max_bytes (1000)");
  });

  it("delivers messages between functions, delayed ones after their delay, and honours cancellation", async ({ expect }) => {
    const target = uniqueId("t");
    const { record } = await sync("test-remote-delayed", { id: target });
    expect(record.status).toBe("completed");
    const echoes = results(record) as { echo: string; caller: string; at: number }[];
    expect(echoes.map((e) => e.echo).sort()).toEqual(["later", "now"]);
    for (const e of echoes) expect(e.caller).toBe(`test/delayer/${target}`);
    const now = echoes.find((e) => e.echo === "now")!;
    const later = echoes.find((e) => e.echo === "later")!;
    expect(later.at - now.at).toBeGreaterThanOrEqual(250);
  });

  it("unwraps Kafka and Kinesis egress records to their values, as StateFun's egresses write them", async ({ expect }) => {
    for (const what of ["kafka", "kinesis"]) {
      const { record } = await sync("test-remote-odd", { what });
      expect(record.status, what).toBe("completed");
      expect(results(record)).toEqual([{ v: what }]);
    }
  });

  it("fails the step at once on a delayed message with a negative delay, as StateFun refuses it, instead of retrying its outcome", async ({ expect }) => {
    const { record } = await sync("test-remote-odd", { what: "negative-delay" });
    expect(record.status).toBe("failed");
    expect(errorOf(record)).toContain("remote function test/odd: sent a delayed message with a negative delay (-5 ms)");
    // Failed by the answer, not by the run's deadline.
    expect((record.error as { code: string }).code).toBe("run_failed");
  });

  it("fails the step on two pending delayed messages with one cancellation token, as StateFun refuses them", async ({ expect }) => {
    const { record } = await sync("test-remote-odd", { what: "same-token" });
    expect(record.status).toBe("failed");
    expect(errorOf(record)).toContain("test/odd/odd sent a delayed message with cancellation token 'tok', which a pending delayed message already has");
  });

  it("fails the run when a function sends to a function no step of the pipeline calls", async ({ expect }) => {
    const { record } = await sync("test-remote-orphan", { id: uniqueId("o") });
    expect(errorOf(record)).toContain("function 'test/echo' was sent a message, but no remote step of pipeline 'test-remote-orphan' calls it");
  });

  it("applies none of a batch's state changes when one of them is refused", async ({ expect }) => {
    const key = uniqueId("two");
    expect(results((await sync("test-remote-two-states", { key, mode: "small" })).record)).toEqual([{ a: 1 }]);
    // `a` counts 2 and `b` is over the limit in the same answer: the batch fails, `a` stays 1.
    const refused = (await sync("test-remote-two-states", { key, mode: "big" })).record;
    expect(errorOf(refused)).toContain("state 'b' was given");
    expect(results((await sync("test-remote-two-states", { key, mode: "small" })).record)).toEqual([{ a: 2 }]);
  });

  it("expires state after its expireAfterWrite time", async ({ expect }) => {
    const key = uniqueId("exp");
    expect(results((await sync("test-remote-expiring", { key })).record)).toEqual([{ seen: 1 }]);
    expect(results((await sync("test-remote-expiring", { key })).record)).toEqual([{ seen: 2 }]);
    // Time has to pass for the expiry under test (300 ms after the last write, kept by the
    // function server in Node, whose clock this test cannot read): had the state not expired,
    // the third call would see 3, not 1.
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect(results((await sync("test-remote-expiring", { key })).record)).toEqual([{ seen: 1 }]);
  });
});

describe("function addresses under faults", () => {
  it("sends a batch again when its address object is reset mid-call, applying its state change once", async ({ expect }) => {
    const key = uniqueId("reset");
    const id = uniqueId("remote-reset");
    const res = await post("/pipelines/test-remote-slow/v1/process/async", { key, n: 1 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    // The request is at the function server (held 600 ms) when every object is reset.
    await vi.waitFor(async () => expect((await serverStats())["/stall/600/counter"] ?? 0).toBeGreaterThanOrEqual(1), { timeout: 3000, interval: 20 });
    await abortAllDurableObjects();
    // The address's alarm (1 s in tests) finds the batch still in its mailbox and sends it again.
    const record = await recordWhen("test-remote-slow", id, ended, 10_000);
    expect(record).toMatchObject({ status: "completed", results: [{ n: 1, value: "m0" }] });
    // The same address again: its state holds one call, not two.
    const again = await sync("test-remote-slow", { key, n: 1 });
    expect(results(again.record)).toEqual([{ n: 2, value: "m0" }]);
  });
});

describe("function addresses and the runs they serve", () => {
  it("drops a cancelled run's invocation waiting in its address's mailbox: the function never runs it", async ({ expect }) => {
    const key = uniqueId("cancelled");
    const a = uniqueId("test-remote-gated");
    await gate("g", "close");
    try {
      // Run A's request is held at the function server; run B's invocation waits behind it.
      await startAsync("test-remote-gated", { key, n: 1 }, a);
      await vi.waitFor(async () => expect(await mailboxOf(key)).toEqual([a]), { timeout: 3000, interval: 20 });
      const b = await startAsync("test-remote-gated", { key, n: 1 });
      await vi.waitFor(async () => expect(await mailboxOf(key)).toEqual([a, b]), { timeout: 3000, interval: 20 });
      const res = await call(`/v1/pipelines/test-remote-gated/runs/${b}/cancel`, { method: "POST" });
      expect(await res.json()).toMatchObject({ status: "cancelled" });
      // The run tells the address it ended: its invocation leaves the mailbox without a call.
      await vi.waitFor(async () => expect(await mailboxOf(key)).toEqual([a]), { timeout: 3000, interval: 20 });
    } finally {
      await gate("g", "open");
    }
    expect(await recordWhen("test-remote-gated", a, ended)).toMatchObject({ status: "completed", results: [{ n: 1, value: "m0" }] });
    // The address's state saw run A only: the next call counts 2, and the function ran twice.
    const next = await sync("test-remote-gated", { key, n: 1 });
    expect(results(next.record)).toEqual([{ n: 2, value: "m0" }]);
    expect(await counterCalls(key)).toBe(2);
  });

  it("applies an invocation handed over twice once, also when the second comes after the first ran", async ({ expect }) => {
    const key = uniqueId("twice");
    const runId = uniqueId("lost-reply");
    const pipeline = findPipeline("test-remote-counter")!;
    const invocation = buildInvocation({
      step: pipeline.step("count") as RemoteStepDefinition,
      endpoints: pipeline.definition.endpoints,
      message: { value: "m0", tags: [], keys: [key] },
      key: `${runId}/count/1`,
      runId,
      pipeline: pipeline.name,
      deadlineAt: Date.now() + 60_000,
      env: { EDGESERVE_FUNCTIONS_URL: env.EDGESERVE_FUNCTIONS_URL },
    });
    expect(await counterAddress(key).enqueue(invocation)).toEqual({ accepted: true });
    // It ran, and its outcome went to its run (there is none here, so it was not needed).
    await vi.waitFor(
      async () => {
        expect(await counterCalls(key)).toBe(1);
        expect(await waitingAt(key, "mailbox")).toEqual([]);
        expect(await waitingAt(key, "outbox")).toEqual([]);
      },
      { timeout: 3000, interval: 20 },
    );
    // The reply to the first hand-over was lost, so the run hands the invocation over again.
    expect(await counterAddress(key).enqueue(invocation)).toEqual({ accepted: true });
    expect(await mailboxOf(key)).toEqual([]);
    // The address's state counted it once: the next call counts 2, and the function ran twice.
    const next = await sync("test-remote-counter", { key, n: 1 });
    expect(results(next.record)).toEqual([{ n: 2, value: "m0" }]);
    expect(await counterCalls(key)).toBe(2);
  });

  it("ends runs queued at an address whose function is down with the remote error, not run_timeout", async ({ expect }) => {
    // Four runs at one address; each call's budget (2 s) is most of a run's deadline (3 s).
    const key = uniqueId("down");
    const ids = await Promise.all(Array.from({ length: 4 }, () => startAsync("test-remote-down", { key, n: 1 })));
    const url = "http://127.0.0.1:1/counter";
    for (const id of ids) {
      const record = await recordWhen("test-remote-down", id, ended, 10_000);
      expect(record.error).toMatchObject({ code: "run_failed", step: "count" });
      expect(errorOf(record)).toMatch(new RegExp(`^step 'count' failed: remote function test/counter at ${url} (failed|unreachable): .*connection failed`));
    }
  });

  it("holds a mailbox with no cap of its own (maxNumBatchRequests ≤ 0) to EDGESERVE_MAX_MAILBOX", async ({ expect }) => {
    const key = uniqueId("uncapped");
    const runId = uniqueId("flood");
    const pipeline = findPipeline("test-remote-uncapped")!;
    const invocation = (n: number) =>
      buildInvocation({
        step: pipeline.step("count") as RemoteStepDefinition,
        endpoints: pipeline.definition.endpoints,
        message: { value: `m${n}`, tags: [], keys: [key] },
        key: `${runId}/count/${n}`,
        runId,
        pipeline: pipeline.name,
        deadlineAt: Date.now() + 60_000,
        env: { EDGESERVE_FUNCTIONS_URL: env.EDGESERVE_FUNCTIONS_URL },
      });
    await gate("u", "close");
    try {
      const outcomes = [];
      for (let n = 0; n < 22; n++) outcomes.push(await counterAddress(key).enqueue(invocation(n)));
      // The first is in flight (held at the gate); 20 more wait, as StateFun counts its buffer.
      expect(outcomes.slice(0, 21)).toEqual(Array(21).fill({ accepted: true }));
      expect(outcomes[21]).toEqual({ accepted: false, retryAfterMs: 250, queued: 20 });
    } finally {
      await gate("u", "open");
    }
  });

  it("fails a step whose invocation is over what an address keeps per waiting invocation", async ({ expect }) => {
    const { record } = await sync("test-remote-large-argument", { key: uniqueId("large"), text: "a".repeat(1_950_000) });
    expect(record).toMatchObject({ status: "failed", error: { step: "count" } });
    expect(errorOf(record)).toMatch(/its invocation of \d+ bytes is over the 1900000 a function address keeps per waiting invocation/);
  });

  it("fails a step whose answer is over what an address keeps per outcome", async ({ expect }) => {
    const { record } = await sync("test-remote-huge", { size: 2_000_000 });
    expect(record).toMatchObject({ status: "failed", error: { step: "big" } });
    expect(errorOf(record)).toMatch(/answered with \d+ bytes of messages and egress, over the 1900000 a function address keeps per outcome/);
  });
});
