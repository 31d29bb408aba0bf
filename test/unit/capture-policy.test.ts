/** Capture policies: precedence, ZenML's hash sampling, redaction and preview truncation. */
import { describe, it } from "vitest";
import {
  capturedValue,
  DEFAULT_REDACT,
  isSampled,
  preview,
  redact,
  resolveCapture,
  runCapture,
  sampleFraction,
  type CapturePolicy,
} from "../../src/capture/policy";

const deployment: CapturePolicy = { mode: "full", sampleRate: 0.1, maxBytes: 262_144, redact: DEFAULT_REDACT };

describe("resolveCapture", () => {
  it("takes each field from the first layer that sets it: request > step > pipeline > default", ({ expect }) => {
    const policy = resolveCapture([{ mode: "metadata" }, { mode: "none", sample_rate: 0.5 }, { max_bytes: 2048 }], deployment);
    expect(policy).toEqual({ mode: "metadata", sampleRate: 0.5, maxBytes: 2048, redact: DEFAULT_REDACT });
  });

  it("falls back to the deployment default", ({ expect }) => {
    expect(resolveCapture([undefined, undefined], deployment)).toEqual(deployment);
  });
});

describe("isSampled", () => {
  it("decides by SHA-1 of the id, the same way every time", async ({ expect }) => {
    const fractions = await Promise.all(Array.from({ length: 2000 }, (_, i) => sampleFraction(`job-${i}`)));
    const share = fractions.filter((f) => isSampled(f, 0.25)).length / fractions.length;
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    expect(await sampleFraction("job-7")).toBe(await sampleFraction("job-7"));
  });

  it("matches ZenML's formula: the first four bytes of SHA-1, big-endian, over 2^32", async ({ expect }) => {
    // SHA-1("abc") = a9993e36…; 0xa9993e36 / 2^32 = 0.66249…
    expect(await sampleFraction("abc")).toBeCloseTo(0xa9993e36 / 2 ** 32, 12);
  });

  it("never samples at rate 0 and always at rate 1", ({ expect }) => {
    expect(isSampled(0, 0)).toBe(false);
    expect(isSampled(0.999, 1)).toBe(true);
  });
});

describe("runCapture", () => {
  it("captures payloads under full, only on error under errors_only, never under metadata or none", ({ expect }) => {
    expect(runCapture(0.5, { ...deployment, mode: "full" })).toMatchObject({ payloads: true, indexed: true });
    expect(runCapture(0.5, { ...deployment, mode: "errors_only" })).toMatchObject({ payloads: false, payloadsOnError: true });
    expect(runCapture(0.5, { ...deployment, mode: "metadata" })).toMatchObject({ payloads: false, payloadsOnError: false, indexed: true });
    expect(runCapture(0.5, { ...deployment, mode: "none" })).toMatchObject({ payloads: false, indexed: false });
  });
});

describe("redact", () => {
  it("replaces keys containing a redacted word, case-insensitively, in nested objects", ({ expect }) => {
    expect(redact({ user: "ann", Password: "x", nested: { apiKey: "k", ok: 1 }, list: [{ authHeader: "h" }] }, DEFAULT_REDACT)).toEqual({
      user: "ann",
      Password: "[REDACTED]",
      nested: { apiKey: "[REDACTED]", ok: 1 },
      list: [{ authHeader: "[REDACTED]" }],
    });
  });

  it("matches whole key segments (snake, kebab and camel case), not substrings", ({ expect }) => {
    const keys = { api_token: 1, apiKey: 2, "x-auth": 3, SECRET_VALUE: 4, clientCredential: 5, tokens: 6, keyboard: 7, author: 8, monkey: 9, passwords: 10 };
    expect(redact(keys, DEFAULT_REDACT)).toEqual({
      api_token: "[REDACTED]",
      apiKey: "[REDACTED]",
      "x-auth": "[REDACTED]",
      SECRET_VALUE: "[REDACTED]",
      clientCredential: "[REDACTED]",
      tokens: 6,
      keyboard: 7,
      author: 8,
      monkey: 9,
      passwords: 10,
    });
  });

  it("matches a redacted word of several segments as a run of the key's segments", ({ expect }) => {
    expect(redact({ aws_secret_access_key: 1, AwsSecretAccessKeyId: 2, secretAccess: 3 }, ["secret_access_key"])).toEqual({
      aws_secret_access_key: "[REDACTED]",
      AwsSecretAccessKeyId: "[REDACTED]",
      secretAccess: 3,
    });
  });

  it("tells word lists apart by their words, whichever list came first (each run resolves new arrays)", ({ expect }) => {
    // One word of two segments, then two words of one: a cache keyed on joined text would mix them up.
    expect(redact({ api: 1, apiKey: 2 }, ["api\nkey"])).toEqual({ api: 1, apiKey: "[REDACTED]" });
    expect(redact({ api: 1, apiKey: 2 }, ["api", "key"])).toEqual({ api: "[REDACTED]", apiKey: "[REDACTED]" });
    // An equal list in a new array gives the same answer.
    expect(redact({ api: 1 }, [..."api key".split(" ")])).toEqual({ api: "[REDACTED]" });
  });
});

describe("preview", () => {
  it("keeps small values whole", ({ expect }) => {
    expect(preview({ a: 1 }, { maxBytes: 1024, redact: [] })).toBe('{"a":1}');
  });

  it("truncates large values with ZenML's marker and the original size", ({ expect }) => {
    const text = preview({ text: "é".repeat(2000) }, { maxBytes: 1024, redact: [] });
    expect(text).toMatch(/\.\.\. \[TRUNCATED - original size: 2011 chars\]$/);
    expect(new TextEncoder().encode(text.split("...")[0]).length).toBeLessThanOrEqual(1024 - 50);
    expect(text).not.toContain("\uFFFD");
  });
});

describe("capturedValue", () => {
  it("is a copy of its own: a value changed in place later does not change what was captured", ({ expect }) => {
    const value = { items: [{ name: "a" }], api_key: "k" };
    const captured = capturedValue(value, { maxBytes: 1024, redact: ["key"] });
    value.items[0]!.name = "changed";
    value.items.push({ name: "b" });
    expect(captured).toEqual({ items: [{ name: "a" }], api_key: "[REDACTED]" });
    expect(value.api_key).toBe("k");
  });

  it("is the preview text when the value is over max_bytes", ({ expect }) => {
    expect(capturedValue({ text: "x".repeat(2000) }, { maxBytes: 1024, redact: [] })).toMatch(/\[TRUNCATED - original size: 2011 chars\]$/);
  });
});
