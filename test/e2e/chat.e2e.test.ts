/**
 * The `chat` pipeline end to end: `wrangler dev` started as `npm run dev` starts it, with the
 * example model server (examples/model/server.mjs) beside it on a port of its own, which the
 * Worker reaches through the EDGESERVE_MODEL_URL override.
 */
import { describe, it } from "vitest";
import { postJson } from "./helpers";

describe("chat over HTTP", () => {
  it("answers the example model's streamed reply", async ({ expect }) => {
    const res = await postJson("/v1/pipelines/chat/runs", { prompt: " a b c " });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "completed", results: [{ text: "c b a", tokens: 3 }] });
  });
});
