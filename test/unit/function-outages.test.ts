/** What a function address does with an endpoint that is down: when waiting invocations fail, and with what. */
import { describe, it } from "vitest";
import { mailboxEntry, type MailboxEntry, type MailboxRow } from "../../durable-objects/function/function-store";
import { callNotAfter, MIN_CALL_MS, Outages, REPORT_MARGIN_MS } from "../../durable-objects/function/outages";

const URL_DOWN = "http://down.test/counter";

function entry(seq: number, deadlineAt: number | null, url = URL_DOWN): MailboxEntry {
  return {
    seq,
    key: `r${seq}/count/1`,
    address: { namespace: "test", type: "counter", id: "k" },
    runId: `r${seq}`,
    pipeline: "p",
    step: "count",
    argument: new Uint8Array(),
    caller: null,
    call: {
      url,
      transport: "okhttp",
      timeouts: { call: 60_000, connect: 10_000, read: 10_000, write: 10_000 },
      payloadMaxBytes: 1000,
      maxNumBatchRequests: 10,
      output: "json",
    },
    deadlineAt,
  };
}

describe("function address outages", () => {
  it("fails only waiting invocations at a down endpoint whose report is due, naming the last cause and the attempts", ({ expect }) => {
    const outages = new Outages();
    const waiting = [entry(1, 10_000), entry(2, 10_000), entry(3, 20_000), entry(4, 10_000, "http://up.test/counter"), entry(5, null)];
    expect(outages.due(waiting, 10_000, new Set())).toEqual([]);
    outages.failed(URL_DOWN, "connection failed: refused.");
    outages.failed(URL_DOWN, "HTTP 503");
    const due = 10_000 - REPORT_MARGIN_MS;
    expect(outages.nextDueAt(waiting, new Set())).toBe(due);
    expect(outages.due(waiting, due - 1, new Set())).toEqual([]);
    // Entry 1 is in flight; entry 4's endpoint answers; entry 5 carries no deadline.
    expect(outages.due(waiting, due, new Set([1])).map((e) => e.seq)).toEqual([2]);
    expect(outages.failure(waiting[1]!)).toBe(`remote function test/counter at ${URL_DOWN} unreachable: HTTP 503 after 2 attempts`);
    outages.answered(URL_DOWN);
    expect(outages.any).toBe(false);
    expect(outages.due(waiting, due, new Set())).toEqual([]);
  });

  it("cuts a batch's call to when its run's report is due, but not below the least call time", ({ expect }) => {
    expect(callNotAfter([entry(1, 10_000)], 1_000)).toBe(10_000 - REPORT_MARGIN_MS);
    expect(callNotAfter([entry(1, 10_000)], 9_900)).toBe(9_900 + MIN_CALL_MS);
    expect(callNotAfter([entry(1, null)], 1_000)).toBeUndefined();
  });
});

describe("mailbox rows stored by an earlier version", () => {
  it("read with the call's defaults: a call stored before transports were told apart is OkHttp's", ({ expect }) => {
    const call = {
      url: "http://127.0.0.1:9090/counter",
      timeouts: { call: 60_000, connect: 10_000, read: 10_000, write: 10_000 },
      payloadMaxBytes: 1000,
      maxNumBatchRequests: 10,
      output: "json",
    };
    const row: MailboxRow = {
      seq: 1,
      key: "r/count/0",
      address: JSON.stringify({ namespace: "test", type: "counter", id: "k" }),
      run_id: "r",
      pipeline: "p",
      step: "count",
      argument: new ArrayBuffer(0),
      caller: null,
      call: JSON.stringify(call),
      deadline_at: null,
    };
    expect(mailboxEntry(row).call).toEqual({ ...call, transport: "okhttp" });
  });
});
