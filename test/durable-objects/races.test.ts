/**
 * Races: 100 concurrent requests with one run id on each surface that takes a client's id, cancels
 * racing a run's completion, and subscribers connecting at the moment a run ends.
 */
import { describe, it } from "vitest";
import { call, post } from "../helpers/http";
import { readSse } from "../helpers/sse";
import { eventsOf, recordOf } from "../helpers/runs";
import { uniqueId } from "../helpers/unique";

const CONCURRENT = 100;
const TERMINAL = ["run_completed", "run_failed", "run_cancelled"];

describe("races", () => {
  for (const mode of ["sync", "async"] as const) {
    it(`runs once for ${CONCURRENT} concurrent Numaflow ${mode} requests with one id; the others get 409`, async ({ expect }) => {
      const id = uniqueId(`race-${mode}`);
      const answers = await Promise.all(Array.from({ length: CONCURRENT }, () => post(`/v1/process/${mode}`, { text: "one id" }, { "X-Numaflow-Id": id })));
      const statuses = answers.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(CONCURRENT - 1);
      for (const r of answers.filter((a) => a.status === 409)) expect(((await r.json()) as { error_code: string }).error_code).toBe("run_id_in_use");
      const events = await eventsOf("word-stats", id);
      expect(events.filter((e) => e.type === "run_started")).toHaveLength(1);
      expect(events.filter((e) => e.type === "step_started" && e.step === "normalise")).toHaveLength(1);
    });
  }

  it(`answers ${CONCURRENT} concurrent native creates with one Idempotency-Key with one run, run once`, async ({ expect }) => {
    const key = uniqueId("race-key");
    const answers = await Promise.all(
      Array.from({ length: CONCURRENT }, () => post("/v1/pipelines/word-stats/runs", { text: "one key" }, { "Idempotency-Key": key })),
    );
    const records = (await Promise.all(answers.map((r) => r.json()))) as { id: string; status: string }[];
    expect(new Set(answers.map((r) => r.status))).toEqual(new Set([200]));
    expect(new Set(records.map((r) => r.id)).size).toBe(1);
    expect(records.every((r) => r.status === "completed")).toBe(true);
    const events = await eventsOf("word-stats", records[0]!.id);
    expect(events.filter((e) => e.type === "run_started")).toHaveLength(1);
  });

  it("ends a run exactly once when cancels race its completion", async ({ expect }) => {
    for (let round = 0; round < 5; round++) {
      const id = uniqueId("race-cancel");
      await post("/pipelines/sleep/v1/process/async", { ms: 20 + round * 5 }, { "X-Numaflow-Id": id });
      const cancels = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          new Promise((resolve) => setTimeout(resolve, i * 2)).then(() => call(`/pipelines/sleep/jobs/${id}/cancel`, { method: "POST" })),
        ),
      );
      const record = await recordOf("sleep", id);
      const accepted = cancels.filter((r) => r.status === 200).length;
      expect(["completed", "cancelled"]).toContain(record.status);
      expect(accepted).toBe(record.status === "cancelled" ? 1 : 0);
      expect(cancels.every((r) => r.status === 200 || r.status === 400)).toBe(true);
      const terminal = (await eventsOf("sleep", id)).filter((e) => TERMINAL.includes(e.type));
      expect(terminal).toHaveLength(1);
    }
  });

  it("gives every subscriber the whole stream, even one connecting as the run ends", async ({ expect }) => {
    const id = uniqueId("race-sse");
    await post("/pipelines/sentences/v1/process/async", { text: "One. Two? Three! Four." }, { "X-Numaflow-Id": id });
    const streams = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        new Promise((resolve) => setTimeout(resolve, i)).then(async () => readSse(await call(`/pipelines/sentences/v1/process/sse?id=${id}`))),
      ),
    );
    for (const stream of streams) {
      expect(
        stream.events
          .map((e) => JSON.parse(e.data) as { index: number })
          .map((r) => r.index)
          .sort(),
      ).toEqual([0, 1, 2, 3]);
    }
  });
});
