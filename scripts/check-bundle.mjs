#!/usr/bin/env node
// `npm test` guard: the Worker script `wrangler deploy --dry-run` produced stays within its budget.
// Every new isolate parses all of it, so it counts on every cold start. One `import { z } from
// "zod"` (instead of `import * as z from "zod"`) is enough to pull all of zod's locales back in.
import { readFileSync, statSync } from "node:fs";

const BUNDLE_MAX_KIB = 500;
const path = process.argv[2] ?? ".wrangler/dry-run/index.js";
const kib = statSync(path).size / 1024;
if (kib > BUNDLE_MAX_KIB) {
  const wholeZod = readFileSync(path, "utf8").includes("zod/v4/locales") ? ' (it holds zod\'s locales: look for `import { z } from "zod"`)' : "";
  console.error(`check-bundle: ${path} is ${kib.toFixed(1)} KiB, over the budget of ${BUNDLE_MAX_KIB} KiB${wholeZod}`);
  process.exit(1);
}
console.log(`check-bundle: ${path} is ${kib.toFixed(1)} KiB (budget ${BUNDLE_MAX_KIB} KiB)`);
