/**
 * The typed client (`edgeserve/client`) against a real `wrangler dev`: start runs sync and async,
 * wait, read results, stream events as an async iterator (resuming with Last-Event-ID), cancel,
 * replay an idempotent create, and errors as EdgeserveError.
 */
import { describe, it } from "vitest";
import { EdgeserveClient, EdgeserveError, type RunEvent } from "edgeserve/client";
import { baseUrl, uniqueId } from "./helpers";
import { inject } from "vitest";

const client = () => new EdgeserveClient({ baseUrl: baseUrl(), token: inject("token") });

describe("edgeserve/client", () => {
  it("lists and describes pipelines", async ({ expect }) => {
    const names = (await client().listPipelines()).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(["word-stats", "greeter", "slow-stats"]));
    expect((await client().getPipeline("greeter")).steps.map((s) => s.kind)).toEqual(["inline", "remote", "sink"]);
  });

  it("runs sync, and async then waits, with the same result", async ({ expect }) => {
    const sync = await client().startRun("word-stats", { text: "a b a" });
    expect(sync).toMatchObject({ status: "completed", results: [{ words: 3, unique: 2 }] });
    const started = await client().startRun("slow-stats", { text: "a b a" }, { async: true });
    expect(started.status).toBe("running");
    const done = await client().waitForRun(started.id);
    expect(done.results).toEqual(sync.results);
    expect(await client().getResult(started.id)).toEqual(sync.results);
  });

  it("streams a run's events to its end, and resumes after a given event", async ({ expect }) => {
    const run = await client().startRun("sentences", { text: "One. Two? Three." }, { async: true });
    const events: RunEvent[] = [];
    for await (const event of client().events(run.id)) events.push(event);
    expect(events.at(-1)?.type).toBe("run_completed");
    expect(events.filter((e) => e.type === "result")).toHaveLength(3);
    const rest: RunEvent[] = [];
    for await (const event of client().events(run.id, { lastEventId: String(events[2]!.seq) })) rest.push(event);
    expect(rest.map((e) => e.seq)).toEqual(events.slice(3).map((e) => e.seq));
  });

  it("cancels a run, replays an idempotent create, and throws EdgeserveError with the code", async ({ expect }) => {
    const run = await client().startRun("sleep", { ms: 5000 }, { async: true });
    expect((await client().cancelRun(run.id, "enough")).status).toBe("cancelled");
    const key = uniqueId("key");
    const a = await client().startRun("word-stats", { text: "x" }, { idempotencyKey: key });
    const b = await client().startRun("word-stats", { text: "x" }, { idempotencyKey: key });
    expect(b.id).toBe(a.id);
    const error = await client()
      .startRun("word-stats", { nope: 1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdgeserveError);
    expect((error as EdgeserveError).status).toBe(400);
    expect((error as EdgeserveError).code).toBe("invalid_input");
  });
});
