/**
 * The package's command line and configuration files, as a newcomer meets them: `npx edgeserve
 * validate` on good and bad manifests, and no token in wrangler.toml.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "vitest";
import { EXAMPLE_PIPELINES } from "../helpers/example-pipelines";

const ROOT = join(import.meta.dirname, "..", "..");

function validate(...files: string[]) {
  const run = spawnSync(
    process.execPath,
    [join(ROOT, "bin", "edgeserve.mjs"), "validate", ...files, "--registry", join(ROOT, "examples/pipelines/registry.ts")],
    {
      cwd: ROOT,
      encoding: "utf8",
    },
  );
  return { status: run.status, out: run.stdout, err: run.stderr };
}

describe("npx edgeserve validate", () => {
  it("accepts every example manifest", ({ expect }) => {
    const files = EXAMPLE_PIPELINES.map((n) => `examples/pipelines/${n}.yaml`);
    const result = validate(...files);
    expect(result.err).toBe("");
    expect(result.status).toBe(0);
    expect(result.out).toContain("examples/pipelines/word-stats.yaml: ok (pipeline 'word-stats', version 1, 4 steps)");
  });

  it("checks the manifests the build uses when given none (`npm run validate`)", ({ expect }) => {
    const run = spawnSync(process.execPath, [join(ROOT, "bin", "edgeserve.mjs"), "validate"], { cwd: ROOT, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    for (const name of EXAMPLE_PIPELINES) expect(run.stdout).toContain(`examples/pipelines/${name}.yaml: ok`);
  });

  it("refuses a broken manifest with the file, line, path and fix, and exits 1", ({ expect }) => {
    const dir = mkdtempSync(join(tmpdir(), "edgeserve-cli-"));
    const file = join(dir, "broken.yaml");
    writeFileSync(file, readFileSync(join(ROOT, "examples/pipelines/word-stats.yaml"), "utf8").replace("to: summarise", "to: summarize"));
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.err).toMatch(
      /broken\.yaml:\d+:\d+: edges\[1\]\.to: names step 'summarize', which is not defined\. Fix: use one of the steps \(normalise, count, summarise, out\)/,
    );
  });
});

describe("the README's walkthrough (Writing a pipeline)", () => {
  // Its example manifest, as a newcomer pastes it into a file.
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const manifest = /```yaml\n(# examples\/pipelines\/shouty\.yaml\n[\s\S]*?)```/.exec(readme)?.[1] ?? "";

  it("has an example manifest that validates against the example registry", ({ expect }) => {
    expect(manifest).toContain("name: shouty");
    const dir = mkdtempSync(join(tmpdir(), "edgeserve-readme-"));
    writeFileSync(join(dir, "shouty.yaml"), manifest);
    const result = validate(join(dir, "shouty.yaml"));
    expect(result.err).toBe("");
    expect(result.status).toBe(0);
  });

  it("reports an unregistered step function and an edge to a missing step in one run, as its sample output shows", ({ expect }) => {
    const dir = mkdtempSync(join(tmpdir(), "edgeserve-readme-"));
    const file = join(dir, "shouty.yaml");
    writeFileSync(file, manifest.replace("run: shout,", "run: shoutt,").replace("{ from: shout, to: out }", "{ from: shout, to: ot }"));
    const result = validate(file);
    expect(result.status).toBe(1);
    expect(result.err).toContain("shouty.yaml:16:39: steps[1].run: no step function named 'shoutt' is registered.");
    expect(result.err).toContain("shouty.yaml:21:24: edges[2].to: names step 'ot', which is not defined.");
  });
});

describe("configuration files", () => {
  it("keeps tokens out of wrangler.toml: they are Worker secrets", ({ expect }) => {
    expect(readFileSync(join(ROOT, "wrangler.toml"), "utf8")).not.toMatch(/^\s*EDGESERVE_AUTH_TOKENS\s*=/m);
  });

  it("refuses to deploy a configuration with the chaos switch on, at the top level or in an environment", ({ expect }) => {
    const check = (config?: string) =>
      spawnSync(process.execPath, [join(ROOT, "scripts", "check-deploy-config.mjs"), ...(config ? ["--config", config] : [])], { cwd: ROOT, encoding: "utf8" });
    expect(check().status).toBe(0);
    const original = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
    const dir = mkdtempSync(join(tmpdir(), "edgeserve-deploy-"));
    const topLevel = join(dir, "top-level.toml");
    writeFileSync(topLevel, original.replace("[vars]\n", '[vars]\nEDGESERVE_CHAOS = "on"\n'));
    const inEnv = join(dir, "in-env.toml");
    writeFileSync(inEnv, `${original}\n[env.staging.vars]\nEDGESERVE_CHAOS = "ON"\n`);
    for (const [config, where] of [
      [topLevel, "top level"],
      [inEnv, "env.staging"],
    ] as const) {
      const refused = check(config);
      expect(refused.status, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(`EDGESERVE_CHAOS is on (${where})`);
    }
  });
});

describe("the typed client", () => {
  it("loads in plain Node as edgeserve/client, its types stripped (no loader, no bundler)", ({ expect }) => {
    const script = [
      'const { EdgeserveClient, EdgeserveError } = await import("edgeserve/client");',
      'const error = new EdgeserveError(404, { code: "run_not_found", message: "no run" });',
      'console.log(JSON.stringify([typeof new EdgeserveClient({ baseUrl: "http://127.0.0.1:1/" }).listPipelines, error.status, error.code]));',
    ].join("\n");
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(JSON.parse(run.stdout)).toEqual(["function", 404, "run_not_found"]);
  });
});
