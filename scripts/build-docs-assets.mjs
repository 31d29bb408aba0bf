#!/usr/bin/env node
// Part of `npm run build`: copies the API reference's browser bundle (the pinned
// @scalar/api-reference devDependency's standalone script, one self-contained file) to
// public/docs/scalar.js (git-ignored), which the Worker serves from its static assets at
// /docs/scalar.js. So `/docs` needs nothing but this server: no CDN, works offline.
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const require = createRequire(join(ROOT, "package.json"));
// The package's exports do not list its package.json: find the folder from its main entry.
const entry = require.resolve("@scalar/api-reference");
const packageDir = join(dirname(entry), "..");
const { version } = JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8"));
const source = join(packageDir, "dist", "browser", "standalone.js");
const out = join(ROOT, "public", "docs", "scalar.js");
mkdirSync(dirname(out), { recursive: true });
const bytes = readFileSync(source);
if (!existsSync(out) || !readFileSync(out).equals(bytes)) copyFileSync(source, out);
console.log(`[docs] @scalar/api-reference ${version} → public/docs/scalar.js (${bytes.byteLength} bytes)`);
