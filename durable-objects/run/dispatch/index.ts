/**
 * One dispatcher per step kind that has work items (a sink's messages are results, not work):
 * the table the orchestrator looks a step's dispatcher up in.
 */
import type { StepDefinition } from "../../../src/pipeline/definition";
import { InlineDispatcher } from "./inline";
import { QueuedDispatcher } from "./queued";
import { RemoteDispatcher } from "./remote";
import type { DispatchHost, StepDispatcher } from "./step-dispatcher";

export type { DispatchHost, Held, StepDispatcher } from "./step-dispatcher";
export { StepLedger } from "./step-ledger";
export { failedSendsNote } from "./failed-sends";
export { MAX_INLINE_ATTEMPTS } from "./inline";
export { MAX_STAGE_SENDS, QUEUED_STEP_MAX_SECONDS } from "./queued";

export type StepKind = StepDefinition["kind"];
export type DispatchedKind = Exclude<StepKind, "sink">;

export class Dispatchers {
  readonly inline: InlineDispatcher;
  /** Also takes the stage consumer's claims and retries. */
  readonly queued: QueuedDispatcher;
  /** Also takes the function addresses' reports. */
  readonly remote: RemoteDispatcher;
  private readonly table: Readonly<Record<DispatchedKind, StepDispatcher>>;

  constructor(host: DispatchHost) {
    this.inline = new InlineDispatcher(host);
    this.queued = new QueuedDispatcher(host);
    this.remote = new RemoteDispatcher(host);
    // The order `persisted` sends in: stages, then invocations.
    this.table = { inline: this.inline, queued: this.queued, remote: this.remote };
  }

  /** The dispatcher of steps of `kind`. */
  dispatcherFor(kind: StepKind): StepDispatcher {
    const dispatcher = (this.table as Partial<Record<StepKind, StepDispatcher>>)[kind];
    if (!dispatcher) throw new Error(`steps of kind '${kind}' have no work items to dispatch`);
    return dispatcher;
  }

  /** Work items executing inside this instance, of every kind. */
  get executing(): number {
    return Object.values(this.table).reduce((sum, d) => sum + d.executing, 0);
  }

  /** The run ended: every dispatcher stops what runs here. */
  abandon(): void {
    for (const dispatcher of Object.values(this.table)) dispatcher.abandon();
  }

  /** The burst has been persisted: every dispatcher sends what the burst recorded as sent. */
  persisted(): void {
    for (const dispatcher of Object.values(this.table)) dispatcher.persisted();
  }
}
