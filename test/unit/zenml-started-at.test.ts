/**
 * ZenML's service start (src/surfaces/zenml/started-at.ts): the deployment's version timestamp
 * when the binding gives one; otherwise the first time the isolate was asked, kept afterwards.
 */
import { describe, it, vi } from "vitest";
import { serviceStartedAt } from "../../src/surfaces/zenml/started-at";

describe("serviceStartedAt", () => {
  it("is the version metadata's timestamp when there is one", ({ expect }) => {
    const deployed = "2026-11-20T08:30:00.000Z";
    expect(serviceStartedAt({ CF_VERSION_METADATA: { timestamp: deployed } })).toBe(Date.parse(deployed));
  });

  it("is the first time it was asked without a usable timestamp (none, unparseable, 1970 or in the future), and stays so", async ({ expect }) => {
    const first = serviceStartedAt({});
    expect(first).toBeGreaterThan(Date.parse("2025-01-01T00:00:00Z"));
    expect(first).toBeLessThanOrEqual(Date.now());
    // Asked again once the clock has moved on: a value that were not kept would differ.
    await vi.waitUntil(() => Date.now() > first, { timeout: 1000, interval: 5 });
    for (const timestamp of [undefined, "", "not a date", "1970-01-01T00:00:00.000Z", new Date(Date.now() + 86_400_000).toISOString()]) {
      expect(serviceStartedAt({ CF_VERSION_METADATA: { ...(timestamp === undefined ? {} : { timestamp }) } }), String(timestamp)).toBe(first);
    }
  });
});
