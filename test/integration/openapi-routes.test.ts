/**
 * `/openapi.json` declares every route the native app serves, and nothing it does not: the
 * document's operations are compared with the routes registered on the Hono app itself (not with
 * a list kept by hand), and each operation's declared parameters with what its handler reads.
 */
import { describe, it } from "vitest";
import { honoPath } from "../../src/surfaces/native/openapi";
import { nativeRoutes } from "../../src/surfaces/native/routes";
import { call } from "../helpers/http";

interface Parameter {
  name: string;
  in: string;
}
type Document = { paths: Record<string, Record<string, { parameters?: Parameter[] }>> };

/** Served, but not operations of the API: the document itself. */
const NOT_OPERATIONS = new Set(["GET /openapi.json"]);

async function documentOf(): Promise<Document> {
  const res = await call("/openapi.json");
  if (res.status !== 200) throw new Error(`/openapi.json answered ${res.status}`);
  return (await res.json()) as Document;
}

describe("the OpenAPI document against the native routes", () => {
  it("declares exactly the operations the native app serves", async ({ expect }) => {
    // `ALL` entries are middleware and the 405 handlers; every other entry is a served operation.
    const served = new Set(
      nativeRoutes()
        .routes.filter((r) => r.method !== "ALL")
        .map((r) => `${r.method} ${r.path}`)
        .filter((operation) => !NOT_OPERATIONS.has(operation)),
    );
    const doc = await documentOf();
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${honoPath(path)}`)),
    );
    expect([...documented].sort()).toEqual([...served].sort());
    // The run addressed with its pipeline, served since the native API began.
    expect(documented).toContain("GET /v1/pipelines/:name/runs/:id");
    expect(documented).toContain("POST /v1/pipelines/:name/runs/:id/cancel");
  });

  it("declares each path parameter of each operation, and Last-Event-ID on every events route", async ({ expect }) => {
    const doc = await documentOf();
    for (const [path, operations] of Object.entries(doc.paths)) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, operation] of Object.entries(operations)) {
        const parameters = operation.parameters ?? [];
        expect(
          parameters
            .filter((p) => p.in === "path")
            .map((p) => p.name)
            .sort(),
          `${method} ${path}`,
        ).toEqual(inPath);
        if (path.endsWith("/events")) {
          expect(
            parameters.map((p) => `${p.in} ${p.name.toLowerCase()}`),
            `${method} ${path}`,
          ).toContain("header last-event-id");
        }
      }
    }
    const cancels = Object.entries(doc.paths).filter(([path]) => path.endsWith("/cancel") || path === "/v1/runs/{id}");
    for (const [path, operations] of cancels) {
      const cancel = operations.post ?? operations.delete;
      expect(
        cancel?.parameters?.map((p) => `${p.in} ${p.name}`),
        path,
      ).toContain("query reason");
    }
  });
});
