/**
 * The `greeter` pipeline end to end: `wrangler dev` started as `npm run dev` starts it, with the
 * example StateFun function server (examples/functions/, StateFun's JavaScript SDK in Node) beside
 * it; Numaflow and ZenML clients call it over HTTP.
 */
import { describe, it } from "vitest";
import { postJson, uniqueId } from "./helpers";

const text = async (res: Response) => new TextDecoder().decode(await res.arrayBuffer());

describe("greeter over HTTP", () => {
  it("counts each name's calls in StateFun state, across runs and surfaces", async ({ expect }) => {
    const name = uniqueId("Grace");
    const first = await postJson("/pipelines/greeter/v1/process/sync", { name });
    expect(first.status).toBe(200);
    expect(await text(first)).toBe(JSON.stringify({ greeting: `Hello ${name}, I have seen you 1 times` }));

    const second = await postJson("/pipelines/greeter/invoke", { parameters: { name } });
    expect(await second.json()).toMatchObject({ success: true, results: { greeting: `Hello ${name}, I have seen you 2 times` } });

    const other = await postJson("/pipelines/greeter/v1/process/sync", { name: `${name}!` });
    expect(await text(other)).toBe(JSON.stringify({ greeting: `Hello ${name}!, I have seen you 1 times` }));
  });
});
