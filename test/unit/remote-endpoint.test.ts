/** StateFun endpoint specs: function patterns, URL templates, transport timeouts, and typed values. */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, it } from "vitest";
import { z } from "zod";
import { endpointSchema, functionPatternProblem, matchEndpoint, parseDuration, resolveFunctionUrl, urlTemplateProblem } from "../../src/remote/endpoint";
import { compilePipeline } from "../../src/pipeline/graph";
import type { PipelineDefinition } from "../../src/pipeline/definition";
import { TypedValueSchema } from "../../src/remote/proto/io/statefun/request_reply_pb";
import { IntWrapperSchema, StringWrapperSchema } from "../../src/remote/proto/io/statefun/types_pb";
import { decodeTypedValue, encodeArgument, JSON_TYPENAME, STATEFUN_TYPES } from "../../src/remote/typed-value";

const issues = (input: unknown) => {
  const parsed = endpointSchema.safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
};

describe("function patterns", () => {
  it("accepts namespace/name and namespace/*", ({ expect }) => {
    expect(functionPatternProblem("com.example/greeter")).toBeUndefined();
    expect(functionPatternProblem("com.example/*")).toBeUndefined();
  });

  it("rejects wildcards anywhere else, missing parts and extra slashes", ({ expect }) => {
    expect(functionPatternProblem("*/greeter")).toMatch(/wildcard is allowed only as the whole name/);
    expect(functionPatternProblem("com.example/gre*")).toMatch(/wildcard is allowed only as the whole name/);
    expect(functionPatternProblem("greeter")).toMatch(/must be 'namespace\/name'/);
    expect(functionPatternProblem("a/b/c")).toMatch(/must be 'namespace\/name'/);
    expect(functionPatternProblem("com.example/")).toMatch(/wildcard is allowed only as the whole name/);
  });

  it("prefers an exact match over the namespace wildcard", ({ expect }) => {
    const endpoints = [
      { functions: "com.example/*", id: "wild" },
      { functions: "com.example/greeter", id: "exact" },
    ];
    expect(matchEndpoint(endpoints, "com.example/greeter")?.id).toBe("exact");
    expect(matchEndpoint(endpoints, "com.example/other")?.id).toBe("wild");
    expect(matchEndpoint(endpoints, "org.other/greeter")).toBeUndefined();
  });
});

describe("URL templates", () => {
  it("replaces {function.name} with the function type's name", ({ expect }) => {
    const spec = { urlPathTemplate: "https://bar.foo.com:8080/fns/{function.name}", baseUrlEnv: undefined };
    expect(resolveFunctionUrl(spec, "com.example/greeter", {})).toBe("https://bar.foo.com:8080/fns/greeter");
  });

  it("takes the origin from the base URL variable when it is set", ({ expect }) => {
    const spec = { urlPathTemplate: "http://127.0.0.1:9090/{function.name}", baseUrlEnv: "FUNCTIONS_URL" };
    expect(resolveFunctionUrl(spec, "example/greeter", { FUNCTIONS_URL: "https://fns.example.com/statefun/" })).toBe(
      "https://fns.example.com/statefun/greeter",
    );
    expect(resolveFunctionUrl(spec, "example/greeter", {})).toBe("http://127.0.0.1:9090/greeter");
    expect(() => resolveFunctionUrl(spec, "example/greeter", { FUNCTIONS_URL: "ftp://x" })).toThrow(/FUNCTIONS_URL/);
  });

  it("rejects UNIX-socket schemes, which Workers cannot open, and non-HTTP URLs", ({ expect }) => {
    expect(urlTemplateProblem("http+unix:///uds.sock/{function.name}")).toMatch(/cannot open UNIX domain sockets/);
    expect(urlTemplateProblem("ftp://host/{function.name}")).toMatch(/must be an http/);
    expect(urlTemplateProblem("https://host/{function.name}")).toBeUndefined();
  });
});

describe("endpoint spec validation", () => {
  const base = { functions: "com.example/*", urlPathTemplate: "https://fns.example.com/{function.name}" };

  it("fills in StateFun's defaults", ({ expect }) => {
    expect(endpointSchema.parse(base)).toEqual({
      ...base,
      baseUrlEnv: undefined,
      maxNumBatchRequests: 1000,
      transport: "okhttp",
      timeouts: { call: 60_000, connect: 10_000, read: 10_000, write: 10_000 },
      payloadMaxBytes: 32 * 1024 * 1024,
    });
  });

  it("reads durations as StateFun's YAML writes them", ({ expect }) => {
    expect(parseDuration("1 min")).toBe(60_000);
    expect(parseDuration("10 sec")).toBe(10_000);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("500ms")).toBe(500);
    expect(parseDuration(250)).toBe(250);
    expect(parseDuration("soon")).toBeUndefined();
    const spec = endpointSchema.parse({ ...base, transport: { type: "io.statefun.transports.v1/async", call: "2m", connect: "20s" } });
    expect(spec.timeouts).toMatchObject({ call: 120_000, connect: 20_000 });
  });

  it("takes the async transport as StateFun does: its defaults, its pool keys, no read or write timeout", ({ expect }) => {
    const async = { type: "io.statefun.transports.v1/async" };
    // StateFun's own complete example (seed 002).
    const full = endpointSchema.parse({
      ...base,
      transport: { ...async, call: "2m", connect: "20s", pool_ttl: "15s", pool_size: 1024, payload_max_bytes: 33554432 },
    });
    expect(full).toMatchObject({ transport: "async", timeouts: { call: 120_000, connect: 20_000 } });
    // Defaults: call 2 min, connect 20 s; each attempt may take the whole budget.
    expect(endpointSchema.parse({ ...base, transport: async }).timeouts).toEqual({ call: 120_000, connect: 20_000, read: 120_000, write: 120_000 });
    // A `timeouts` object brings StateFun's OkHttp call default (1 min) with it.
    expect(endpointSchema.parse({ ...base, transport: { ...async, timeouts: { connect: "5 sec" } } }).timeouts).toMatchObject({ call: 60_000, connect: 5_000 });
    // A call shorter than OkHttp's read default is fine here.
    expect(issues({ ...base, transport: { ...async, call: "3 sec", connect: "1 sec" } })).toEqual([]);
    expect(issues({ ...base, transport: { ...async, client_cert: "/certs/a.pem" } })[0]).toMatch(/client_cert is not supported/);
  });

  it("takes any namespace and name StateFun's TypeName takes (one '/', no whitespace)", ({ expect }) => {
    expect(functionPatternProblem("com.example/greeter:v2")).toBeUndefined();
    expect(functionPatternProblem("com.example/greet er")).toMatch(/must not hold whitespace/);
  });

  it("rejects zero timeouts and timeouts longer than the call", ({ expect }) => {
    expect(issues({ ...base, transport: { timeouts: { call: "0 sec" } } })).toEqual(["transport.timeouts.call: transport.timeouts.call must not be zero"]);
    expect(issues({ ...base, transport: { timeouts: { call: "10 sec", read: "30 sec" } } })).toEqual([
      "transport.timeouts.read: the read timeout (30000 ms) must not exceed the call timeout (10000 ms)",
    ]);
    expect(issues({ ...base, transport: { timeouts: { call: "a while" } } })[0]).toMatch(/must be a duration/);
  });

  it("names the field of a bad pattern or template when a pipeline loads", ({ expect }) => {
    const pipeline = (endpoint: Record<string, unknown>, fn = "com.example/greeter"): PipelineDefinition =>
      ({
        name: "p",
        input: z.json(),
        endpoints: [endpoint],
        steps: [
          { name: "call", kind: "remote", function: fn },
          { name: "out", kind: "sink" },
        ],
        edges: [{ from: "call", to: "out" }],
      }) as unknown as PipelineDefinition;
    expect(() => compilePipeline(pipeline({ ...base, functions: "*/x" }))).toThrow(/endpoints\.0\.functions: .*wildcard/);
    expect(() => compilePipeline(pipeline({ ...base, urlPathTemplate: "http+unix:///s.sock/x" }))).toThrow(/endpoints\.0\.urlPathTemplate: .*UNIX/);
    expect(() => compilePipeline(pipeline(base, "org.other/greeter"))).toThrow(
      "pipeline 'p': step 'call' calls function 'org.other/greeter', which none of the pipeline's endpoints serves",
    );
  });

  it("refuses two endpoints for one functions value, and an argument type without a namespace", ({ expect }) => {
    const pipeline = (endpoints: Record<string, unknown>[], argumentType?: string): PipelineDefinition =>
      ({
        name: "p",
        input: z.json(),
        endpoints,
        steps: [
          { name: "call", kind: "remote", function: "com.example/greeter", ...(argumentType ? { argumentType } : {}) },
          { name: "out", kind: "sink" },
        ],
        edges: [{ from: "call", to: "out" }],
      }) as unknown as PipelineDefinition;
    expect(() => compilePipeline(pipeline([base, { ...base, urlPathTemplate: "http://other:8000/{function.name}" }]))).toThrow(
      /pipeline 'p': endpoints 0 and 1 both serve 'com\.example\/\*'/,
    );
    expect(() => compilePipeline(pipeline([base], "foo"))).toThrow(/steps\.0\.argumentType: a StateFun type name is namespace\/name/);
    expect(() => compilePipeline(pipeline([base], "io.statefun.types/string"))).not.toThrow();
  });
});

describe("typed values", () => {
  const message = (value: unknown) => ({ value: value as never, tags: [], keys: [] });

  it("sends strings, integers and JSON as StateFun's types", ({ expect }) => {
    const text = encodeArgument(message("Ada"), undefined);
    expect(text.typename).toBe(STATEFUN_TYPES.string);
    expect(fromBinary(StringWrapperSchema, text.value).value).toBe("Ada");
    const int = encodeArgument(message(42), undefined);
    expect(int.typename).toBe(STATEFUN_TYPES.int);
    expect(fromBinary(IntWrapperSchema, int.value).value).toBe(42);
    const json = encodeArgument(message({ a: 1 }), undefined);
    expect(json.typename).toBe(JSON_TYPENAME);
    expect(new TextDecoder().decode(json.value)).toBe('{"a":1}');
    expect(() => encodeArgument(message("x"), STATEFUN_TYPES.int)).toThrow("an argument of type io.statefun.types/int must be a 32-bit integer, got string");
  });

  it("passes on a function's message that carried no value as one with no value (has_value false), not as empty bytes", ({ expect }) => {
    const absent = encodeArgument({ value: null, tags: [], keys: ["x"], typename: "example/Empty" }, undefined);
    expect(absent).toMatchObject({ typename: "example/Empty", hasValue: false });
    expect(absent.value.byteLength).toBe(0);
    const empty = encodeArgument({ value: new Uint8Array(), tags: [], keys: ["x"], typename: "example/Empty" }, undefined);
    expect(empty).toMatchObject({ typename: "example/Empty", hasValue: true });
  });

  it("reads egress values as JSON, text or bytes", ({ expect }) => {
    const typed = (typename: string, value: Uint8Array) => create(TypedValueSchema, { typename, hasValue: true, value });
    const bytes = new TextEncoder().encode('{"greeting":"hi"}');
    expect(decodeTypedValue(typed("example/Greeting", bytes), "auto")).toEqual({ greeting: "hi" });
    expect(decodeTypedValue(typed("example/Greeting", bytes), "string")).toBe('{"greeting":"hi"}');
    expect(decodeTypedValue(typed("example/Greeting", bytes), "bytes")).toEqual(bytes);
    expect(decodeTypedValue(typed("x/y", new TextEncoder().encode("plain")), "auto")).toBe("plain");
    expect(() => decodeTypedValue(typed("x/y", new TextEncoder().encode("plain")), "json")).toThrow("a value of type x/y is not JSON");
    const wrapped = toBinary(StringWrapperSchema, create(StringWrapperSchema, { value: "hello" }));
    expect(decodeTypedValue(typed(STATEFUN_TYPES.string, wrapped), "auto")).toBe("hello");
    expect(decodeTypedValue(create(TypedValueSchema, { typename: "x/y", hasValue: false }), "auto")).toBeNull();
  });
});
