/**
 * The web console in a real headless Chromium (playwright-core driving the system's Chromium, e.g.
 * Debian's `chromium` package) against `wrangler dev`: run word-stats and sentences from the page
 * and watch what it shows as the run progresses and at the end, an error case, and a screenshot
 * of a finished run in test/e2e/.artifacts/ (git-ignored: tests never rewrite tracked files).
 * Without a browser these tests are skipped, saying why.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, inject, it } from "vitest";
import { baseUrl } from "./helpers";

const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
const executablePath = CANDIDATES.find((p): p is string => typeof p === "string" && p !== "" && existsSync(p));
if (!executablePath) {
  console.warn("[console e2e] SKIPPED: no Chromium found (install Debian's `chromium` package, or set CHROMIUM_PATH)");
}

/** Where the screenshot goes: an ignored folder, so running the suite never changes a tracked file. */
const ARTIFACTS = join(import.meta.dirname, ".artifacts");

describe.skipIf(!executablePath)("web console in Chromium", () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: executablePath!, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${baseUrl()}/`);
    await page.fill("#token", inject("token"));
    await page.dispatchEvent("#token", "change");
    await page.waitForSelector("#pipeline option[value='word-stats']", { state: "attached" });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function choose(name: string) {
    await page.selectOption("#pipeline", name);
    await page.waitForSelector(`#input-form[data-pipeline='${name}']`, { state: "attached" });
  }

  /** Clicks a run button and waits for that run (a new id) to end. */
  async function runAndWait(button: string) {
    await page.click(button);
    await page.waitForFunction(
      () => {
        const status = document.querySelector("#run-status")?.textContent;
        return document.querySelector("#run-id")?.textContent !== "" && status !== "starting" && status !== "running";
      },
      undefined,
      { timeout: 15_000 },
    );
  }

  it("runs word-stats sync and shows the finished run: status, graph, result, timings, events", async ({ expect }) => {
    await choose("word-stats");
    await page.fill("#field-text", "the cat and the hat");
    await runAndWait("#run-sync");
    expect(await page.textContent("#run-status")).toBe("completed");
    expect(JSON.parse((await page.textContent("#result")) ?? "")).toEqual({
      words: 5,
      unique: 4,
      top: [
        ["the", 2],
        ["and", 1],
        ["cat", 1],
        ["hat", 1],
      ],
    });
    const states = await page.$$eval("#graph .node", (nodes) => nodes.map((n) => [n.getAttribute("data-step"), n.getAttribute("data-state")]));
    expect(states).toEqual([
      ["normalise", "completed"],
      ["count", "completed"],
      ["summarise", "completed"],
      ["out", "completed"],
    ]);
    expect(await page.textContent("#timeline")).toContain("run_completed");
    expect(await page.$$eval("#timings tbody tr", (rows) => rows.length)).toBe(4);
    expect(await page.textContent("#recent")).toContain("word-stats · completed");
  });

  it("runs sentences async and shows the run progressing, then its results", async ({ expect }) => {
    await choose("sentences");
    await page.fill("#field-text", "One. Two? Three.");
    await runAndWait("#run-async");
    expect(await page.textContent("#run-status")).toBe("completed");
    const results = JSON.parse((await page.textContent("#result")) ?? "[]") as { index: number; kind: string }[];
    expect(results.map((r) => r.kind).sort()).toEqual(["question", "statement", "statement"]);
    expect(await page.getAttribute("#graph .node[data-step='shout']", "data-state")).toBe("completed");
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "console-finished-run.png"), fullPage: true });
  });

  it("shows a step running while a slow run goes on", async ({ expect }) => {
    await choose("sleep");
    await page.fill("#field-ms", "1500");
    await page.click("#run-async");
    await page.waitForSelector("#graph .node[data-step='sleep'][data-state='running']", { timeout: 5000 });
    expect(await page.textContent("#run-status")).toBe("running");
    await page.waitForSelector("#run-status.completed", { timeout: 15_000 });
    expect(await page.textContent("#result")).toContain('"slept": 1500');
  });

  it("shows a readable error for input the pipeline refuses", async ({ expect }) => {
    await choose("sleep");
    await page.fill("#field-ms", "999999");
    await page.click("#run-sync");
    await page.waitForSelector("#error:not([hidden])", { timeout: 5000 });
    const text = (await page.textContent("#error")) ?? "";
    expect(text).toContain("invalid_input, HTTP 400");
    expect(text).toContain("• ms:");
  });
});
