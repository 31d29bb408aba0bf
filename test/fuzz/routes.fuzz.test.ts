/**
 * Property-based fuzzing of every surface inside workerd (fast-check): malformed and truncated
 * JSON, wrong types, deeply nested and oversized bodies, invalid UTF-8, bad and duplicate id
 * headers, ids with control characters or too long, unknown pipelines, missing or invalid query
 * parameters and wrong methods. More than 10,000 generated requests: every answer must be a 4xx in
 * its surface's error shape, never a 5xx or a stack trace (also not one inside a JSON string), and
 * no Durable Object of any class (Run, admission, function) may keep any storage.
 */
import { listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeEach, describe, it } from "vitest";
import { EXAMPLE_PIPELINES } from "../helpers/example-pipelines";
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

/** A V8 stack frame: `at fn (file.ts:1:2)`, `at file.ts:1:2`, `at async fn (…)`, `at fn (<anonymous>)`. */
const STACK_FRAME = /\bat\s+(?:async\s+)?(?:\S+\s+)?(?:\(?[^\s()]+:\d+:\d+\)?|\((?:<anonymous>|native)\))/;
/** The line break before a frame, real or escaped (a stack inside a string inside a JSON string). */
const FRAME_BREAK = /(?:\n|\\n)\s*at\s/;

/** Every string of a JSON value, keys included. */
function stringsOf(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.flatMap(stringsOf);
  if (value !== null && typeof value === "object") return Object.entries(value).flatMap(([key, v]) => [key, ...stringsOf(v)]);
  return [];
}

/** Whether the body shows a stack trace: in its raw text, or in any string of its JSON once decoded. */
function hasStackTrace(text: string, body: unknown): boolean {
  return [text, ...stringsOf(body)].some((s) => STACK_FRAME.test(s) || FRAME_BREAK.test(s));
}

/** Numaflow's one plain-text error: a `.` in the X-Numaflow-Id header (reference: numaflow-serving.md). */
const NUMAFLOW_DOT_ERROR = /^Header-ID should not contain '\.', found /;

function problemWith(res: Response, text: string, surface: Surface): string | undefined {
  if (res.status < 400 || res.status >= 500) return "not a 4xx";
  if (surface === "numaflow" && res.status === 400 && NUMAFLOW_DOT_ERROR.test(text)) return hasStackTrace(text, undefined) ? "a stack trace" : undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return hasStackTrace(text, undefined) ? "a stack trace" : "not JSON";
  }
  if (hasStackTrace(text, body)) return "a stack trace";
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
      .filter((n) => !(EXAMPLE_PIPELINES as readonly string[]).includes(n) && !n.startsWith("test-"))
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

  it("leaves no storage in any Durable Object class", SLOW, async ({ expect }) => {
    // Its own requests (a sample of every refused kind above, and refusals that reach a Run object:
    // unknown ids), so that it holds whatever order the tests run in.
    for (const { path, init } of REFUSED_SAMPLE) await expectRefused(path, init, "sample");
    expect(failures).toEqual([]);
    const namespaces = durableObjectNamespaces();
    // Every class of durable-objects/index.ts, found by binding, so a new class is covered too.
    expect(Object.keys(namespaces)).toEqual(expect.arrayContaining(["RUNS", "ADMISSION", "FUNCTIONS"]));
    for (const namespace of Object.values(namespaces)) expect(await leftoverStorage(namespace)).toEqual([]);
    // The check does see storage when an object keeps some, in every class: the empty lists mean something.
    for (const [binding, namespace] of Object.entries(namespaces)) {
      const stub = namespace.get(namespace.idFromName("fuzz-storage-control"));
      await runInDurableObject(stub, (_, state) => state.storage.put("control", 1));
      expect(await leftoverStorage(namespace), binding).toEqual([expect.stringContaining("entries control")]);
      await runInDurableObject(stub, (_, state) => state.storage.deleteAll());
    }
  });
});

describe("the fuzz checks", () => {
  it("see a stack trace inside a JSON string", ({ expect }) => {
    const planted = [
      { message: "Error: boom\n    at handler (src/app.ts:10:5)" },
      { message: "failed at foo (file.ts:1:2)" },
      { detail: [{ msg: "x at async RunObject.start (run-object.ts:90:12)" }] },
      { message: 'wrapped: {"message":"Error: boom\\n    at x"}' },
      { message: "at Array.map (<anonymous>)" },
    ];
    for (const body of planted) expect(hasStackTrace(JSON.stringify(body), body), JSON.stringify(body)).toBe(true);
    const clean = [
      { message: "no route for GET /x at all" },
      { message: "Unexpected token at position 5" },
      { code: "run_not_found", message: "no run with id at-1:2" },
    ];
    for (const body of clean) expect(hasStackTrace(JSON.stringify(body), body), JSON.stringify(body)).toBe(false);
  });
});

/** Every Durable Object namespace bound in the test environment (wrangler.toml's bindings), by binding name. */
function durableObjectNamespaces(): Record<string, DurableObjectNamespace> {
  const found: Record<string, DurableObjectNamespace> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith("__") && isNamespace(value)) found[name] = value;
  }
  return found;
}

/**
 * What the namespace's objects hold: one line per object with entries, SQL tables or an alarm.
 * (Reaching an object creates it, so listing the ids alone would count empty objects too.)
 */
async function leftoverStorage(namespace: DurableObjectNamespace): Promise<string[]> {
  const held: string[] = [];
  for (const id of await listDurableObjectIds(namespace)) {
    const kept = await runInDurableObject(namespace.get(id), async (_, state) => {
      const entries = [...(await state.storage.list()).keys()];
      const tables = state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
        )
        .toArray()
        .map((row) => row.name);
      const alarm = await state.storage.getAlarm();
      return [
        entries.length > 0 ? `entries ${entries.join(",")}` : "",
        tables.length > 0 ? `tables ${tables.join(",")}` : "",
        alarm !== null ? `alarm at ${alarm}` : "",
      ];
    });
    const what = kept.filter((k) => k !== "").join("; ");
    if (what !== "") held.push(`${id}: ${what}`);
  }
  return held;
}

function isNamespace(value: unknown): value is DurableObjectNamespace {
  // By the runtime's own tag: a service binding (a Fetcher, such as ASSETS) answers any method name.
  return Object.prototype.toString.call(value) === "[object DurableObjectNamespace]";
}

/** One request of each kind the suite generates, plus refusals that only a Run object can give. */
const REFUSED_SAMPLE: { path: string; init: RequestInit }[] = [
  ...BODY_ROUTES.flatMap((route) => [
    { path: route, init: json('{"text":') },
    { path: route, init: json("[1,2]") },
    { path: route, init: json(new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0xff])) },
  ]),
  { path: "/v1/process/sync", init: { method: "POST", body: VALID[0], headers: { "content-type": "application/json", "X-Numaflow-Id": "a.b" } } },
  { path: "/v1/process/fetch?id=fuzz-never-started", init: {} },
  { path: "/v1/process/status?id=fuzz-never-started", init: {} },
  { path: "/pipelines/slow-stats/v1/process/fetch?id=fuzz-never-started", init: {} },
  { path: "/pipelines/sentences/v1/process/sse?id=fuzz-never-started", init: { method: "POST" } },
  { path: "/v1/runs/word-stats~fuzz-never-started", init: {} },
  { path: "/v1/runs/word-stats~fuzz-never-started/events", init: {} },
  { path: "/v1/pipelines/word-stats/runs/fuzz-never-started/cancel", init: { method: "POST" } },
  { path: "/jobs/fuzz-never-started", init: {} },
  { path: "/jobs?limit=-5", init: {} },
  { path: "/pipelines/unknown-pipeline/v1/process/sync", init: json(VALID[0]!) },
  { path: "/v1/process/sync", init: { method: "GET" } },
];
