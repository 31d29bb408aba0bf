/**
 * The typed client (`edgeserve/client`) against a real `wrangler dev`: start runs sync and async,
 * wait, read results, stream events as an async iterator (resuming with Last-Event-ID), cancel,
 * replay an idempotent create, errors as EdgeserveError, and stream tickets (a run's, a socket's).
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

  it("mints a run's stream ticket that opens eventsUrl without a token, and a socket ticket with its job id", async ({ expect }) => {
    const id = uniqueId("client-ticket");
    await fetch(`${baseUrl()}/pipelines/sentences/v1/process/sync`, {
      method: "POST",
      body: JSON.stringify({ text: "A. B." }),
      headers: { authorization: `Bearer ${inject("token")}`, "x-numaflow-id": id },
    }).then((r) => r.arrayBuffer());
    // A Numaflow run, streamed through the native client by its pipeline (no wait for the run index).
    const streamed: RunEvent[] = [];
    for await (const event of client().events(id, { pipeline: "sentences" })) streamed.push(event);
    expect(streamed.at(-1)?.type).toBe("run_completed");

    const { ticket, expires_at } = await client().streamTicket("sentences", id);
    expect(Date.parse(expires_at)).toBeGreaterThan(Date.now() + 300_000);
    const url = client().eventsUrl("sentences", id, ticket);
    const res = await fetch(url, { headers: { accept: "text/event-stream" } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("event: run_completed");
    expect((await fetch(url.replace(/\?ticket=.*$/, ""))).status).toBe(401);

    const missing = await client()
      .streamTicket("sentences", uniqueId("nope"))
      .catch((e: unknown) => e);
    expect((missing as EdgeserveError).code).toBe("run_not_found");

    const socket = await client().socketTicket("sentences");
    expect(socket.job_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(socket.expires_at) - Date.now()).toBeLessThanOrEqual(61_000);
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
