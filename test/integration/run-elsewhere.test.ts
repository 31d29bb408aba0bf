/**
 * Run ids are per pipeline: a lookup under one pipeline of an id whose run lives in another is a
 * 404 that says so (native pipeline-scoped routes, Numaflow's fetch, status and SSE subscribe,
 * ZenML's job, cancel and stream), from one run index read made on the 404 path only. An id that
 * exists nowhere keeps the plain 404; a run index that cannot answer leaves the 404 as it was.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { call, post } from "../helpers/http";
import { indexRow } from "../helpers/run-index";
import { uniqueId } from "../helpers/unique";

const text = "the cat and the hat";
const HINT = "a run with this id exists in pipeline 'word-stats', not in 'sentences' — run ids are per pipeline";

/** Waits until the run index lists the run (rows arrive through a queue). */
async function indexed(pipeline: string, id: string): Promise<void> {
  await vi.waitFor(async () => {
    if (!(await indexRow(pipeline, id))) throw new Error(`run ${pipeline}/${id} is not indexed yet`);
  });
}

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { code?: string; error_code?: string; message?: string; detail?: string };
  return {
    status: res.status,
    code: body.code === undefined || typeof body.code === "number" ? (body.error_code ?? "") : body.code,
    message: body.message ?? body.detail ?? "",
  };
}

describe("a run looked up under another pipeline", () => {
  it("native: GET and cancel under /v1/pipelines/{name}/runs/{id} name the run's pipeline", async ({ expect }) => {
    const created = (await (await post("/v1/pipelines/word-stats/runs", { text })).json()) as { id: string };
    await indexed("word-stats", created.id);
    const read = await errorOf(await call(`/v1/pipelines/sentences/runs/${created.id}`));
    expect(read).toEqual({ status: 404, code: "run_not_found", message: `no run '${created.id}' in pipeline 'sentences'; ${HINT}` });
    const cancel = await errorOf(await call(`/v1/pipelines/sentences/runs/${created.id}/cancel`, { method: "POST" }));
    expect(cancel.status).toBe(404);
    expect(cancel.message).toContain(HINT);
    // Under its own pipeline it is there.
    expect((await call(`/v1/pipelines/word-stats/runs/${created.id}`)).status).toBe(200);
  });

  it("Numaflow: fetch, status and SSE subscribe name the run's pipeline", async ({ expect }) => {
    const id = uniqueId("elsewhere-nf");
    expect((await post("/pipelines/word-stats/v1/process/sync", { text }, { "X-Numaflow-Id": id })).status).toBe(200);
    await indexed("word-stats", id);
    for (const path of ["fetch", "status", "message", "sse"]) {
      const error = await errorOf(await call(`/pipelines/sentences/v1/process/${path}?id=${id}`));
      expect(error.status, path).toBe(404);
      expect(error.code, path).toBe("run_not_found");
      expect(error.message, path).toContain(HINT);
    }
  });

  it("ZenML: the job, its cancel and its stream name the job's pipeline", async ({ expect }) => {
    const invoked = await post("/pipelines/word-stats/invoke", { parameters: { text } }, { "content-type": "application/json" });
    const { job_id: jobId } = (await invoked.json()) as { job_id: string };
    await indexed("word-stats", jobId);
    for (const [path, method] of [
      [`/pipelines/sentences/jobs/${jobId}`, "GET"],
      [`/pipelines/sentences/jobs/${jobId}/cancel`, "POST"],
      [`/pipelines/sentences/stream/${jobId}`, "GET"],
    ] as const) {
      const error = await errorOf(await call(path, { method }));
      expect(error, path).toMatchObject({ status: 404, code: "run_not_found" });
      expect(error.message, path).toBe(`Job ${jobId} not found; ${HINT}`);
    }
  });

  it("keeps the plain 404 for an id that exists nowhere", async ({ expect }) => {
    const id = uniqueId("nowhere");
    expect(await errorOf(await call(`/v1/pipelines/sentences/runs/${id}`))).toEqual({
      status: 404,
      code: "run_not_found",
      message: `no run '${id}' in pipeline 'sentences'`,
    });
    expect((await errorOf(await call(`/pipelines/sentences/jobs/${id}`))).message).toBe(`Job ${id} not found`);
  });

  it("reads the run index on the 404 path only, and a failing index leaves the 404 as it was", async ({ expect }) => {
    const id = uniqueId("elsewhere-d1");
    expect((await post("/pipelines/word-stats/v1/process/sync", { text }, { "X-Numaflow-Id": id })).status).toBe(200);
    let reads = 0;
    const failingDb = {
      prepare: () => {
        reads += 1;
        throw new Error("D1 is down");
      },
    } as unknown as D1Database;
    const app = createApp();
    const request = async (path: string) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`http://edgeserve.test${path}`), { ...env, DB: failingDb }, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    const found = await request(`/pipelines/word-stats/v1/process/fetch?id=${id}`);
    expect(found.status).toBe(200);
    expect(reads).toBe(0);
    const missing = await errorOf(await request(`/pipelines/sentences/v1/process/fetch?id=${id}`));
    expect(missing).toMatchObject({ status: 404, code: "run_not_found" });
    expect(missing.message).not.toContain("per pipeline");
    expect(reads).toBe(1);
  });
});
