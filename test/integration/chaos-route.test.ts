/** The chaos route exists only for `npm run chaos`: with EDGESERVE_CHAOS unset (as deployed) it is not there. */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it } from "vitest";
import worker from "../../src/index";
import { BASE, call } from "../helpers/http";

describe("chaos route", () => {
  it("answers 404 route_not_found when chaos is off", async ({ expect }) => {
    const res = await call("/_chaos/runs/word-stats/some-id/evict", { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "route_not_found" });
  });

  it("answers an error, not 202, when the Run object was not reset", async ({ expect }) => {
    // Chaos on for the Worker only: the Run object (its own environment, chaos off) refuses the
    // reset, and the refusal must reach the caller instead of passing for a reset.
    const chaos = { ...env, EDGESERVE_CHAOS: "on" } as Env;
    const request = new Request(`${BASE}/_chaos/runs/word-stats/not-reset/evict`, { method: "POST" });
    const res = await worker.fetch(request, chaos, createExecutionContext());
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: "run_unavailable", message: "the Run object was not reset: chaos is off" });
  });
});
