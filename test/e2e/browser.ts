/**
 * The Chromium the browser tests drive (playwright-core downloads none): `CHROMIUM_PATH`, else a
 * system Chromium or Chrome, else the build `@sparticuz/chromium` ships inside its npm package
 * (Linux only: unpacked to the temp directory on first use), so a fresh Linux clone runs the
 * browser tests with `npm install` alone. Undefined (the tests skip, loudly) when none runs here.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

const SYSTEM = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

async function findChromium(): Promise<{ path: string; args: string[] } | undefined> {
  const system = SYSTEM.find((p): p is string => typeof p === "string" && p !== "" && existsSync(p));
  if (system) return { path: system, args: [] };
  if (process.platform !== "linux") return undefined;
  // Its own launch flags are for AWS Lambda (one process, web security off): only its binary is used.
  const packaged = (await import("@sparticuz/chromium")).default;
  return { path: await packaged.executablePath(), args: ["--no-zygote"] };
}

const found = await findChromium();
export const executablePath = found?.path;
if (!found) console.warn("[browser e2e] SKIPPED: no Chromium found (set CHROMIUM_PATH, or install Chromium)");

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage", "--no-first-run"];

export function launchChromium(): Promise<Browser> {
  if (!found) throw new Error("no Chromium to launch");
  return chromium.launch({ executablePath: found.path, args: [...new Set([...found.args, ...FLAGS])] });
}
