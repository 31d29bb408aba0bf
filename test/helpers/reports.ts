/**
 * What Run objects answer to reports about sent-out work: the stage consumer's `completeStage` and
 * `retryStage`, the dead-letter consumer's `failStage`. Seen by spying on those methods of
 * HostedRun, the engine both run hosts hand reports to: the consumers and the hosts run in the
 * test isolate, so every call lands here, whichever request context it comes from and whichever
 * instance answers it.
 *
 * A test that checks a late or duplicate report is ignored waits here for the refusal first: it
 * then knows the report arrived and was answered, and its "nothing changed" checks mean something.
 */
import { afterAll, beforeAll, vi, type MockInstance } from "vitest";
import { HostedRun } from "../../durable-objects/run/hosted-run";

type ReportMethod = "completeStage" | "retryStage" | "failStage";
const METHODS: readonly ReportMethod[] = ["completeStage", "retryStage", "failStage"];

export interface ReportAnswer {
  accepted: boolean;
  reason?: string;
}

const spies = new Map<ReportMethod, MockInstance<(report: unknown) => unknown>>();

/** Spies on the report RPCs for the whole test file (call at the top level of the file). */
export function watchReports(): void {
  beforeAll(() => {
    for (const method of METHODS) spies.set(method, vi.spyOn(HostedRun.prototype, method) as MockInstance<(report: unknown) => unknown>);
  });
  afterAll(() => {
    for (const spy of spies.values()) spy.mockRestore();
    spies.clear();
  });
}

/** The answers given so far to `method` reports about work item `key` (settled answers only). */
export function answersTo(method: ReportMethod, key: string): ReportAnswer[] {
  const spy = spies.get(method);
  if (!spy) throw new Error("watchReports() was not called in this test file");
  const answers: ReportAnswer[] = [];
  spy.mock.calls.forEach((args, i) => {
    if ((args[0] as { key?: unknown } | undefined)?.key !== key) return;
    const result = spy.mock.results[i];
    if (result?.type !== "return") return;
    // The RPC answers synchronously today; an async one is read once it has settled.
    const settled = isThenable(result.value) ? spy.mock.settledResults[i] : { type: "fulfilled", value: result.value };
    if (settled?.type === "fulfilled") answers.push(settled.value as ReportAnswer);
  });
  return answers;
}

/**
 * Waits until a Run object has refused a `method` report about work item `key`, and returns that
 * answer. Times out, listing the answers it saw, if no such report was refused in time.
 */
export async function refusedReport(method: ReportMethod, key: string, timeout = 3000): Promise<ReportAnswer> {
  try {
    return await vi.waitUntil(() => answersTo(method, key).find((a) => !a.accepted), { timeout, interval: 10 });
  } catch {
    throw new Error(`no ${method} report about ${key} was refused within ${timeout} ms; answers: ${JSON.stringify(answersTo(method, key))}`);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
