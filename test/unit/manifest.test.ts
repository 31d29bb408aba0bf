/**
 * Manifest validation: each kind of mistake gets a message naming the file, the line and column,
 * the path inside the manifest and the fix; and every example manifest loads.
 */
import { describe, it } from "vitest";
import { loadManifest } from "../../src/manifest/load";
import { registry } from "../../examples/pipelines/registry";
import { manifests } from "../../src/generated/manifests";
import { EXAMPLE_PIPELINES } from "../helpers/example-pipelines";

const GOOD = `name: demo
version: "2"
input: text
steps:
  - { name: normalise, kind: inline, run: normalise }
  - { name: out, kind: sink }
edges:
  - { from: normalise, to: out }
`;

function errorsOf(text: string): string[] {
  const loaded = loadManifest("pipelines/demo.yaml", text, registry);
  if (loaded.ok) throw new Error("expected the manifest to be refused");
  return loaded.errors;
}

describe("manifest validation", () => {
  it("accepts a good manifest", ({ expect }) => {
    const loaded = loadManifest("pipelines/demo.yaml", GOOD, registry);
    expect(loaded.ok && loaded.pipeline.name).toBe("demo");
    expect(loaded.ok && loaded.pipeline.definition.version).toBe("2");
  });

  it("refuses an unknown field", ({ expect }) => {
    expect(errorsOf(GOOD.replace("input: text", "input: text\ntimeout: 5"))).toEqual([
      "pipelines/demo.yaml:1:1: (top level): unknown field 'timeout'. Fix: remove it or correct its spelling (the README's manifest reference lists every field)",
    ]);
    expect(errorsOf(GOOD.replace("kind: sink }", "kind: sink, color: red }"))).toEqual([
      "pipelines/demo.yaml:6:5: steps[1]: unknown field 'color'. Fix: remove it or correct its spelling (the README's manifest reference lists every field)",
    ]);
  });

  it("refuses a cycle", ({ expect }) => {
    const cyclic = `name: demo
input: text
steps:
  - { name: a, kind: inline, run: normalise }
  - { name: b, kind: inline, run: count }
  - { name: out, kind: sink }
edges:
  - { from: a, to: b }
  - { from: b, to: a }
  - { from: b, to: out }
`;
    expect(errorsOf(cyclic)).toEqual([
      "pipelines/demo.yaml:8:3: edges: no entry step: every step has an incoming edge, so the graph has a cycle. Fix: remove an edge of the cycle so that some step receives the run's input",
    ]);
  });

  it("refuses an edge to a missing step", ({ expect }) => {
    expect(errorsOf(GOOD.replace("to: out }", "to: ot }"))).toEqual([
      "pipelines/demo.yaml:8:28: edges[0].to: names step 'ot', which is not defined. Fix: use one of the steps (normalise, out), or define 'ot' under steps",
    ]);
  });

  it("refuses an unregistered step function", ({ expect }) => {
    const errors = errorsOf(GOOD.replace("run: normalise", "run: normalize"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^pipelines\/demo\.yaml:5:43: steps\[0\]\.run: no step function named 'normalize' is registered\. Fix: use one of: classify, count, generate, key-by-name, normalise, .*; or register it in examples\/pipelines\/registry\.ts$/,
    );
  });

  it("refuses an unregistered input schema", ({ expect }) => {
    expect(errorsOf(GOOD.replace("input: text", "input: txt"))[0]).toMatch(
      /^pipelines\/demo\.yaml:3:8: input: no input schema named 'txt' is registered\. Fix: use one of: name, prompt, sleep, text, or bytes \(the raw request body\); or register it in examples\/pipelines\/registry\.ts$/,
    );
  });

  it("refuses an invalid typename pattern", ({ expect }) => {
    const remote = `name: demo
input: text
endpoints:
  - { functions: "*/greeter", urlPathTemplate: "http://127.0.0.1:9090/{function.name}" }
steps:
  - { name: greet, kind: remote, function: example/greeter }
  - { name: out, kind: sink }
edges:
  - { from: greet, to: out }
`;
    expect(errorsOf(remote)).toEqual([
      "pipelines/demo.yaml:4:18: endpoints[0].functions: '*/greeter': a wildcard is allowed only as the whole name ('namespace/*'). Fix: write the function type as 'namespace/name', or 'namespace/*' for an endpoint serving a whole namespace",
    ]);
  });

  it("refuses an unreachable sink", ({ expect }) => {
    const unreachable = `name: demo
input: text
steps:
  - { name: normalise, kind: inline, run: normalise }
  - { name: out, kind: sink }
  - { name: lost, kind: sink }
edges:
  - { from: normalise, to: out }
`;
    expect(errorsOf(unreachable)).toEqual([
      "pipelines/demo.yaml:6:5: steps[2]: sink 'lost' has no incoming edge. Fix: it is unreachable: add an edge { from: <a step>, to: lost }, or remove the sink",
    ]);
  });

  it("refuses YAML that does not parse", ({ expect }) => {
    expect(errorsOf("name: demo\nsteps: [\n")[0]).toMatch(/^pipelines\/demo\.yaml:\d+:\d+: not valid YAML: .*Fix: correct the YAML syntax at that line$/);
  });
});

describe("example manifests", () => {
  it("bundles every example manifest, each of which compiles", ({ expect }) => {
    const names = manifests.map((m) => (m.manifest as { name: string }).name).sort();
    expect(names).toEqual([...EXAMPLE_PIPELINES]);
  });
});
