/**
 * Fault injection for `npm run chaos` (scripts/chaos.mjs), development only: wrangler.toml sets
 * none of these vars, so a deployment has no chaos unless someone sets them on purpose.
 *
 * - `EDGESERVE_CHAOS=on` mounts `POST /_chaos/runs/:pipeline/:id/evict`, which resets a Run object
 *   (`ctx.abort`) the way a crash or a deploy does.
 * - `EDGESERVE_CHAOS_STAGE_FAILURE_RATE` (0–1, with `EDGESERVE_CHAOS=on`) makes that share of stage
 *   consumer invocations throw at a random point: before claiming, after claiming, after running
 *   the step, or after reporting its outputs (before the acknowledgement).
 * - `EDGESERVE_CHAOS_STAGE_FAULT_POINT` pins that point instead of drawing it (the tests use it).
 */
import * as z from "zod";

export const STAGE_FAULT_POINTS = ["before-claim", "after-claim", "after-run", "after-report"] as const;

const chaosSchema = z.object({
  EDGESERVE_CHAOS: z.enum(["on", "off"]).default("off"),
  EDGESERVE_CHAOS_STAGE_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  EDGESERVE_CHAOS_STAGE_FAULT_POINT: z.enum(STAGE_FAULT_POINTS).optional(),
});
export type StageFaultPoint = (typeof STAGE_FAULT_POINTS)[number];

export class ChaosFault extends Error {
  override readonly name = "ChaosFault";
}

export function chaosEnabled(env: object): boolean {
  return chaosSchema.safeParse(env).data?.EDGESERVE_CHAOS === "on";
}

/** One consumer invocation's fault: where it will throw, or nothing. Decided once per invocation. */
export function stageFault(env: object): StageFaultPoint | undefined {
  const parsed = chaosSchema.safeParse(env);
  if (!parsed.success || parsed.data.EDGESERVE_CHAOS !== "on") return undefined;
  if (Math.random() >= parsed.data.EDGESERVE_CHAOS_STAGE_FAILURE_RATE) return undefined;
  return parsed.data.EDGESERVE_CHAOS_STAGE_FAULT_POINT ?? STAGE_FAULT_POINTS[Math.floor(Math.random() * STAGE_FAULT_POINTS.length)];
}
