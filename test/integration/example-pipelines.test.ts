/**
 * The example pipelines as deployed from their manifests: `GET /v1/pipelines` lists them with their
 * versions, and each one runs with a sample input to the answer its README entry promises.
 */
import { describe, it } from "vitest";
import { EXAMPLE_PIPELINES } from "../helpers/example-pipelines";
import { bodyText, call, numaflowResults, post } from "../helpers/http";
import { uniqueId } from "../helpers/unique";

describe("GET /v1/pipelines", () => {
  it("lists every deployed pipeline with its version, default flag and steps", async ({ expect }) => {
    const res = await call("/v1/pipelines");
    expect(res.status).toBe(200);
    const { pipelines } = (await res.json()) as { pipelines: { name: string; version: string; default: boolean; steps: { name: string; kind: string }[] }[] };
    const byName = new Map(pipelines.map((p) => [p.name, p]));
    for (const name of EXAMPLE_PIPELINES) {
      expect(byName.get(name)?.version).toBe("1");
    }
    expect(byName.get("word-stats")).toMatchObject({ default: true, result_store: "sqlite", retention_seconds: 86_400 });
    expect(byName.get("greeter")?.steps).toEqual([
      { name: "key-by-name", kind: "inline" },
      { name: "greet", kind: "remote", function: "example/greeter" },
      { name: "out", kind: "sink" },
    ]);
    expect(byName.get("slow-stats")?.steps.find((s) => s.name === "count")?.kind).toBe("queued");
    expect(byName.get("chat")?.steps).toEqual([
      { name: "prepare", kind: "inline" },
      { name: "generate", kind: "inline" },
      { name: "finish", kind: "sink" },
    ]);
  });
});

describe("every example manifest runs", () => {
  const text = "The cat sat. Did the cat sit?";
  const wordStats = '{"words":7,"unique":5,"top":[["cat",2],["the",2],["did",1],["sat",1],["sit",1]]}';

  it("word-stats, word-stats-memory and slow-stats give the same answer", async ({ expect }) => {
    for (const name of ["word-stats", "word-stats-memory", "word-stats-journal", "slow-stats", "slow-stats-journal"]) {
      const res = await post(`/pipelines/${name}/v1/process/sync`, { text });
      expect(res.status, name).toBe(200);
      expect(await bodyText(res), name).toBe(wordStats);
    }
  });

  it("sentences answers one result per sentence, questions shouted", async ({ expect }) => {
    const results = (await numaflowResults(await post("/pipelines/sentences/v1/process/sync", { text }))).map((r) => JSON.parse(r) as { index: number });
    expect(results.sort((a, b) => a.index - b.index)).toEqual([
      { index: 0, sentence: "The cat sat.", kind: "statement" },
      { index: 1, sentence: "DID THE CAT SIT?", kind: "question" },
    ]);
  });

  it("sleep answers after its wait", async ({ expect }) => {
    expect(await bodyText(await post("/pipelines/sleep/v1/process/sync", { ms: 20 }))).toBe('{"slept":20}');
  });

  it("chat answers the example model's streamed reply: the prompt's words in reverse order", async ({ expect }) => {
    expect(await bodyText(await post("/pipelines/chat/v1/process/sync", { prompt: "a b c" }))).toBe('{"text":"c b a","tokens":3}');
  });

  it("greeter greets through its StateFun function", async ({ expect }) => {
    const name = uniqueId("Lin");
    expect(await bodyText(await post("/pipelines/greeter/v1/process/sync", { name }))).toBe(
      JSON.stringify({ greeting: `Hello ${name}, I have seen you 1 times` }),
    );
  });
});
