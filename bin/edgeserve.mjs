#!/usr/bin/env node
// edgeserve's command line. `npx edgeserve validate <manifest.yaml>…` checks manifests without
// deploying anything: the same checks as `npm run build`, with the same messages. With no file, it
// checks the manifests `npm run build` would build (EDGESERVE_MANIFESTS_DIR, default examples/pipelines):
// that is `npm run validate`.
//   --registry <file>  the module exporting the step functions and input schemas the manifests
//                      name (default: EDGESERVE_REGISTRY, else registry.ts beside the first manifest, else
//                      examples/pipelines/registry.ts)
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { checkManifests, manifestFiles, manifestsDir, manifestTool, ROOT } from "../scripts/manifest-tool.mjs";

const USAGE = "usage: edgeserve validate [<manifest.yaml>…] [--registry <file>]";
const [command, ...rest] = process.argv.slice(2);
if (command !== "validate") {
  console.error(USAGE);
  process.exit(command === undefined || command === "--help" || command === "help" ? 0 : 2);
}
const at = rest.indexOf("--registry");
const registryArg = at >= 0 ? rest[at + 1] : undefined;
const named = rest.filter((arg, i) => (arg !== "--registry" && i !== at + 1) || at < 0).filter((arg) => arg !== "--registry");
const files = named.length > 0 ? named : manifestFiles(manifestsDir());
if (files.length === 0) {
  console.error(`no manifests to check: ${USAGE}`);
  process.exit(2);
}
const beside = join(dirname(resolve(files[0])), "registry.ts");
const registryOption = registryArg ?? process.env.EDGESERVE_REGISTRY;
const registryFile = registryOption ? resolve(registryOption) : existsSync(beside) ? beside : join(ROOT, "examples/pipelines/registry.ts");
const missing = files.filter((file) => !existsSync(file));
if (missing.length > 0) {
  for (const file of missing) console.error(`${file}: no such file`);
  process.exit(1);
}
const { loaded, errors } = checkManifests(
  await manifestTool(registryFile),
  files.map((f) => resolve(f)),
);
for (const error of errors) console.error(error);
for (const { file, pipeline } of loaded)
  console.log(`${file}: ok (pipeline '${pipeline.name}', version ${pipeline.definition.version}, ${pipeline.order.length} steps)`);
process.exit(errors.length > 0 ? 1 : 0);
