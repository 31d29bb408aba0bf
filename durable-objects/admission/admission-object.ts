/**
 * AdmissionObject: one shard of a pipeline's admission counter (`<pipeline>#<shard>`). It holds a
 * lease per admitted run, `running` or `queued`, in SQLite; a released lease lets the oldest queued
 * run start (the shard tells that run's Run object to go). Leases expire with their run's deadline,
 * so a run that dies without releasing frees its slot anyway.
 *
 * Sharding keeps any one object out of the hot path of every request; the price is accuracy, see
 * the README's design notes.
 */
import { DurableObject } from "cloudflare:workers";
import type { AdmissionDecision, AdmissionRequest } from "../../src/admission/protocol";

interface SlotRow extends Record<string, SqlStorageValue> {
  run_id: string;
  pipeline: string;
  state: string;
  concurrency: number;
}

export class AdmissionObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS slots (
        run_id TEXT PRIMARY KEY,
        pipeline TEXT NOT NULL,
        state TEXT NOT NULL,
        concurrency INTEGER NOT NULL,
        lease_until INTEGER NOT NULL,
        since INTEGER NOT NULL
      )`,
    );
  }

  /** Takes a running slot, or (async only) a queued one, or refuses. Idempotent per run id. */
  acquire(request: AdmissionRequest): AdmissionDecision {
    const now = Date.now();
    this.expireLeases(now);
    const existing = this.ctx.storage.sql.exec<SlotRow>("SELECT * FROM slots WHERE run_id = ?", request.runId).toArray()[0];
    if (existing) return { admitted: true, queued: existing.state === "queued" };
    const running = this.count("running");
    const leaseUntil = now + request.leaseMs;
    if (running < request.concurrency) {
      this.insert(request, "running", leaseUntil, now);
      return { admitted: true, queued: false };
    }
    if (request.mode === "async" && this.count("queued") < request.queueSize) {
      this.insert(request, "queued", leaseUntil, now);
      return { admitted: true, queued: true };
    }
    return { admitted: false };
  }

  /** Frees a run's slot and starts as many queued runs as there is room for. */
  async release(runId: string): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM slots WHERE run_id = ?", runId);
    await this.promote();
  }

  private async promote(): Promise<void> {
    for (;;) {
      const next = this.ctx.storage.sql
        .exec<SlotRow>("SELECT * FROM slots WHERE state = 'queued' ORDER BY since, run_id LIMIT 1")
        .toArray()[0];
      if (!next || this.count("running") >= next.concurrency) return;
      this.ctx.storage.sql.exec("UPDATE slots SET state = 'running' WHERE run_id = ?", next.run_id);
      const run = this.env.RUNS.get(this.env.RUNS.idFromName(`${next.pipeline}:${next.run_id}`));
      let started = false;
      try {
        started = await run.admit();
      } catch (error) {
        console.error(`edgeserve admission: could not start queued run ${next.run_id}: ${String(error)}`);
      }
      // A run that was cancelled or timed out while queued gives its slot straight back.
      if (!started) this.ctx.storage.sql.exec("DELETE FROM slots WHERE run_id = ?", next.run_id);
    }
  }

  private expireLeases(now: number): void {
    this.ctx.storage.sql.exec("DELETE FROM slots WHERE lease_until < ?", now);
  }

  private count(state: "running" | "queued"): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM slots WHERE state = ?", state).one().n;
  }

  private insert(request: AdmissionRequest, state: "running" | "queued", leaseUntil: number, now: number): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO slots (run_id, pipeline, state, concurrency, lease_until, since) VALUES (?, ?, ?, ?, ?, ?)",
      request.runId,
      request.pipeline,
      state,
      request.concurrency,
      leaseUntil,
      now,
    );
  }
}
