/** The chaos route exists only for `npm run chaos`: with EDGESERVE_CHAOS unset (as deployed) it is not there. */
import { describe, it } from "vitest";
import { call } from "../helpers/http";

describe("chaos route", () => {
  it("answers 404 route_not_found when chaos is off", async ({ expect }) => {
    const res = await call("/_chaos/runs/word-stats/some-id/evict", { method: "POST" });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "route_not_found" });
  });
});
