/**
 * Property-based fuzzing of every surface inside workerd (fast-check): malformed and truncated
 * JSON, wrong types, deeply nested and oversized bodies, invalid UTF-8, bad and duplicate id
 * headers, ids with control characters or too long, unknown pipelines, missing or invalid query
 * parameters and wrong methods. More than 10,000 generated requests: every answer must be a 4xx in
 * its surface's error shape, never a 5xx or a stack trace, and no Run object may keep any storage.
 */
import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, it } from "vitest";
import { call } from "../helpers/http";

type Surface = "numaflow" | "zenml" | "native";

function surfaceOf(path: string): Surface {
  if (path.includes("/v1/process/")) return "numaflow";
  if (/\/(invoke|jobs|stream|info|status|metrics|health)(\/|\?|$)/.test(path) && !path.startsWith("/v1/")) return "zenml";
  return "native";
}

const failures: string[] = [];
beforeEach(() => {
  failures.length = 0;
});

/** Sends one request and checks the answer; a failure is recorded (with the request) rather than thrown at once. */
async function expectRefused(path: string, init: RequestInit, what: string): Promise<boolean> {
  const res = await call(path, init);
  const text = await res.text();
  const problem = problemWith(res, text, surfaceOf(path));
  if (problem) failures.push(`${what}: ${init.method ?? "GET"} ${path.slice(0, 120)} → ${res.status}: ${problem}: ${text.slice(0, 200)}`);
  return problem === undefined;
}

function problemWith(res: Response, text: string, surface: Surface): string | undefined {
  if (res.status < 400 || res.status >= 500) return "not a 4xx";
  if (/\n\s+at\s/.test(text) || /Error:\s.*\n\s+at/.test(text)) return "a stack trace";
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return "not JSON";
  }
  const b = body as Record<string, unknown>;
  if (surface === "numaflow" && !(typeof b.message === "string" && b.code === res.status && typeof b.error_code === "string"))
    return "not Numaflow's error shape";
  if (surface === "zenml" && !("detail" in b)) return "not ZenML's error shape";
  if (surface === "native" && !(typeof b.code === "string" && typeof b.message === "string")) return "not edgeserve's error shape";
  return undefined;
}

const BODY_ROUTES = [
  "/v1/process/sync",
  "/v1/process/async",
  "/pipelines/sentences/v1/process/sync",
  "/invoke",
  "/pipelines/sleep/invoke",
  "/v1/pipelines/word-stats/runs",
  "/v1/pipelines/greeter/runs",
];
const VALID = ['{"text":"hello there"}', '{"parameters":{"text":"hello"}}', '{"ms":10}', '{"name":"Ada"}'];

const json = (body: string | Uint8Array) => ({ method: "POST", body, headers: { "content-type": "application/json" } });

const SLOW = { timeout: 120_000 };

describe("fuzzing every surface", () => {
  it("refuses malformed and truncated JSON", SLOW, async ({ expect }) => {
    const truncated = fc.tuple(fc.constantFrom(...VALID), fc.nat()).map(([valid, cut]) => valid.slice(0, 1 + (cut % (valid.length - 1))));
    const garbage = fc.string({ minLength: 1, maxLength: 64 }).filter((s) => {
      try {
        JSON.parse(s);
        return false;
      } catch {
        return true;
      }
    });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...BODY_ROUTES), fc.oneof(truncated, garbage), (route, body) => expectRefused(route, json(body), "malformed JSON")),
      { numRuns: 2000 },
    );
    expect(failures).toEqual([]);
  });

  it("refuses JSON of the wrong types and shapes", SLOW, async ({ expect }) => {
    const wrong = fc
      .jsonValue({ maxDepth: 4 })
      .filter((v) => !(v !== null && typeof v === "object" && !Array.isArray(v) && ("text" in v || "parameters" in v || "ms" in v || "name" in v)));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...BODY_ROUTES), wrong, (route, value) => expectRefused(route, json(JSON.stringify(value)), "wrong types")),
      { numRuns: 2000 },
    );
    expect(failures).toEqual([]);
  });

  it("refuses invalid UTF-8 and deeply nested values", SLOW, async ({ expect }) => {
    const invalidUtf8 = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => new Uint8Array([0x7b, 0x22, 0xc3, 0x28, ...bytes, 0xff, 0xfe]));
    const deep = fc.integer({ min: 500, max: 20_000 }).map((depth) => `{"text":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...BODY_ROUTES), fc.oneof(invalidUtf8, deep), (route, body) => expectRefused(route, json(body), "bytes or depth")),
      { numRuns: 1500 },
    );
    expect(failures).toEqual([]);
  });

  it("refuses bad, duplicate, control-character and over-long ids", SLOW, async ({ expect }) => {
    // Wrapped in letters: a header value's leading and trailing whitespace is not part of it (Fetch trims it).
    const printableWithControls = fc
      .string({ unit: fc.constantFrom(..."abc.-_ \t\u0001\u0007\u001f\u007f"), minLength: 1, maxLength: 20 })
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this test looks for
      .filter((s) => /[.\s\u0001-\u001f\u007f]/.test(s))
      .map((s) => `a${s}z`);
    const overLong = fc.integer({ min: 129, max: 400 }).map((n) => "x".repeat(n));
    const badId = fc.oneof(printableWithControls, overLong);
    const viaHeader = fc.tuple(fc.constantFrom(...BODY_ROUTES.slice(0, 3)), badId, fc.boolean()).map(([route, id, duplicate]) => {
      const headers = new Headers({ "content-type": "application/json" });
      headers.append("X-Numaflow-Id", id);
      if (duplicate) headers.append("X-Numaflow-Id", "second-id");
      return { path: route, init: { method: "POST", body: VALID[0], headers } as RequestInit };
    });
    const viaPath = fc
      .tuple(fc.constantFrom("/v1/process/fetch?id=", "/v1/process/status?id=", "/jobs/", "/v1/runs/", "/v1/pipelines/word-stats/runs/"), badId)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this test looks for
      .filter(([, id]) => !/[.]/.test(id) || id.length > 128 || /[\s\u0001-\u001f\u007f]/.test(id))
      .map(([prefix, id]) => ({ path: `${prefix}${encodeURIComponent(id)}`, init: {} as RequestInit }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(viaHeader, viaPath), ({ path, init }) => expectRefused(path, init, "bad id")),
      { numRuns: 2500 },
    );
    expect(failures).toEqual([]);
  });

  it("refuses unknown pipelines, missing or invalid query parameters, and wrong methods", SLOW, async ({ expect }) => {
    const unknownPipeline = fc
      .stringMatching(/^[a-z][a-z0-9-]{0,20}$/)
      .filter((n) => !["word-stats", "sentences", "sleep", "slow-stats", "greeter", "word-stats-memory"].includes(n) && !n.startsWith("test-"))
      .chain((name) =>
        fc.constantFrom(`/pipelines/${name}/v1/process/sync`, `/pipelines/${name}/invoke`, `/v1/pipelines/${name}`, `/v1/pipelines/${name}/runs`),
      )
      .map((path) => ({ path, init: json(VALID[0]!) }));
    const badQuery = fc
      .tuple(
        fc.constantFrom("/v1/process/fetch", "/v1/process/status", "/jobs"),
        fc.dictionary(fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
      )
      .map(([route, extra]) => {
        const query = new URLSearchParams(extra);
        query.delete("id");
        if (route === "/jobs") query.set("limit", "-5");
        return { path: `${route}?${query}`, init: {} as RequestInit };
      });
    const wrongMethod = fc
      .constantFrom(
        ["/v1/process/sync", "GET"],
        ["/v1/process/async", "PUT"],
        ["/v1/process/fetch?id=x", "POST"],
        ["/invoke", "GET"],
        ["/jobs", "POST"],
        ["/jobs/x/cancel", "GET"],
        ["/v1/pipelines", "POST"],
        ["/v1/pipelines/word-stats/runs", "PUT"],
        ["/v1/runs/word-stats~x", "PATCH"],
        ["/health", "DELETE"],
      )
      .map(([path, method]) => ({ path: path!, init: { method } as RequestInit }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(unknownPipeline, badQuery, wrongMethod), ({ path, init }) => expectRefused(path, init, "route")),
      { numRuns: 2500 },
    );
    expect(failures).toEqual([]);
  });

  it("refuses bodies over the limit on every body route", SLOW, async ({ expect }) => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...BODY_ROUTES), fc.integer({ min: 1, max: 64 * 1024 }), (route, extra) =>
        expectRefused(route, json(`{"text":"${"a".repeat(2 * 1024 * 1024 + extra)}"}`), "oversized"),
      ),
      { numRuns: 60 },
    );
    expect(failures).toEqual([]);
  });

  it("left no Run object with storage behind", async ({ expect }) => {
    // Every request above was refused before a run could start: no Run object holds anything.
    expect(await listDurableObjectIds(env.RUNS)).toEqual([]);
  });
});
