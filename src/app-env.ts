/** The Hono environment of the Worker: bindings and the variables middleware sets per request. */
import type { StreamGrant } from "./auth/stream-tickets";
import type { Pipeline } from "./pipeline/graph";
import type { Surface } from "./runs/protocol";
import type { RunService } from "./engine/run-service";
import type { Settings } from "./settings";

export interface AppVariables {
  settings: Settings;
  /** The engine service: every surface starts, reads, streams and cancels runs through it. */
  engine: RunService;
  /** Which surface's error shape to answer with. */
  surface: Surface;
  pipeline: Pipeline;
  /** The run id of this request: from the id header, or generated (UUIDv7). */
  runId: string;
  runIdGiven: boolean;
  /** Set by a stream route's ticket middleware when `?ticket=` opens this very request (src/middleware/ticket-auth.ts). */
  ticketGrant?: StreamGrant;
}

export interface AppEnv {
  Bindings: Env;
  Variables: AppVariables;
}
