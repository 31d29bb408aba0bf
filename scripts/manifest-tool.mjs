// Manifest checking for Node: bundles src/manifest/load.ts and a registry of step functions (both
// TypeScript) with esbuild, then loads each YAML manifest with them. Shared by
// scripts/build-manifests.mjs (`npm run build`) and bin/edgeserve.mjs (`npx edgeserve validate`).
import { build } from "esbuild";
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEFAULT_MANIFESTS_DIR = "examples/pipelines";

/** Where the manifests are: `given` (a `--manifests` flag), else EDGESERVE_MANIFESTS_DIR, else examples/pipelines; from the project root. */
export function manifestsDir(given) {
  return resolve(ROOT, given ?? process.env.EDGESERVE_MANIFESTS_DIR ?? DEFAULT_MANIFESTS_DIR);
}

/** Bundles the loader with `registryFile` and imports it: `{ loadManifest, registry }`. */
export async function manifestTool(registryFile) {
  const out = join(ROOT, "node_modules", ".cache", "edgeserve", "manifest-tool.mjs");
  mkdirSync(dirname(out), { recursive: true });
  await build({
    stdin: {
      contents: `export { loadManifest } from ${JSON.stringify(join(ROOT, "src/manifest/load.ts"))};\nexport { registry } from ${JSON.stringify(resolve(registryFile))};\n`,
      resolveDir: ROOT,
      loader: "ts",
    },
    bundle: true,
    platform: "node",
    // Packages (yaml, zod) load from node_modules; only the project's TypeScript is bundled.
    packages: "external",
    format: "esm",
    outfile: out,
    logLevel: "error",
  });
  return import(`${pathToFileURL(out).href}?t=${Date.now()}`);
}

/** The manifest files of a directory (*.yaml, *.yml), sorted. */
export function manifestFiles(dir) {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(dir, name));
}

/** Loads every file; returns the loaded manifests and every error line (file:line:col: path: message. Fix: …). */
export function checkManifests(tool, files) {
  const loaded = [];
  const errors = [];
  const byName = new Map();
  for (const file of files) {
    const shown = relative(process.cwd(), file) || file;
    const result = tool.loadManifest(shown, readFileSync(file, "utf8"), tool.registry);
    if (!result.ok) {
      errors.push(...result.errors);
      continue;
    }
    const name = result.pipeline.name;
    if (byName.has(name)) {
      errors.push(`${shown}: name: pipeline '${name}' is also defined in ${byName.get(name)}. Fix: give each pipeline its own name`);
      continue;
    }
    byName.set(name, shown);
    loaded.push({ file: relative(ROOT, file), manifest: result.manifest, pipeline: result.pipeline });
  }
  return { loaded, errors };
}
