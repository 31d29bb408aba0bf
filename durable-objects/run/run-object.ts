/**
 * RunObject, the object host: one Durable Object per run, reached by the object id its run id
 * carries or by the name `<pipeline>:<run id>` (src/engine/run-client.ts). The object holds one
 * run (hosted-run.ts) over its whole storage and its own alarm; every entrypoint hands off to it.
 * The run id each call names is the object's own, so it is not checked again here.
 */
import { DurableObject } from "cloudflare:workers";
import type { BlockSlot } from "../../src/admission/protocol";
import type { StartRunRequest } from "../../src/runs/protocol";
import { loadSettings } from "../../src/settings";
import { HostedRun } from "./hosted-run";
import type { RunEntrypoints } from "./run-entrypoints";
import { RunStore } from "./run-store";
import { SOCKET_TAG } from "./socket-watchers";

export class RunObject extends DurableObject<Env> implements RunEntrypoints {
  private readonly run: HostedRun;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const store = new RunStore(ctx.storage, (error) => {
      // Memory holds a burst that storage refused: start again from what storage holds.
      ctx.abort(`run storage write failed: ${error instanceof Error ? error.message : String(error)}`);
      throw error;
    });
    this.run = new HostedRun({ ctx, env, settings: loadSettings(env), store, legacyTables: true, socketTag: SOCKET_TAG });
  }

  /** The run this object holds, for tests' fault injection (through `runInDurableObject`). */
  hostedRun(_runId: string): HostedRun {
    return this.run;
  }

  start(_runId: string, request: StartRunRequest) {
    return this.run.start(request);
  }

  startAndWait(_runId: string, request: StartRunRequest, timeoutMs: number) {
    return this.run.startAndWait(request, timeoutMs);
  }

  admit(_runId: string, slot: BlockSlot) {
    return this.run.admit(slot);
  }

  wait(_runId: string, timeoutMs: number) {
    return this.run.wait(timeoutMs);
  }

  describe(_runId: string) {
    return this.run.describe();
  }

  probe(_runId: string) {
    return this.run.probe();
  }

  messagePath(_runId: string) {
    return this.run.messagePath();
  }

  cancel(_runId: string, reason?: string) {
    return this.run.cancel(reason);
  }

  claimStage(_runId: string, claim: unknown) {
    return this.run.claimStage(claim);
  }

  completeStage(_runId: string, report: unknown) {
    return this.run.completeStage(report);
  }

  retryStage(_runId: string, report: unknown) {
    return this.run.retryStage(report);
  }

  failStage(_runId: string, report: unknown) {
    return this.run.failStage(report);
  }

  completeRemote(_runId: string, report: unknown) {
    return this.run.completeRemote(report);
  }

  indexUndelivered(_runId: string, createdAt: number) {
    return this.run.indexUndelivered(createdAt);
  }

  indexDeleteUndelivered(_runId: string, key: unknown) {
    return this.run.indexDeleteUndelivered(key);
  }

  chaosReset(_runId: string) {
    this.run.chaosReset();
  }

  override fetch(request: Request): Promise<Response> {
    return this.run.fetch(request);
  }

  override webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.run.webSocketMessage(socket, message);
  }

  override webSocketClose(socket: WebSocket, code: number, reason: string): void {
    this.run.webSocketClose(socket, code, reason);
  }

  override alarm(): Promise<void> {
    return this.run.alarm();
  }
}
