/**
 * Shared by the console's browser tests: the Chromium of ./browser.ts, a page that records every
 * request it makes, and the console's own signals to wait on (data
 * attributes, never fixed sleeps). Screenshots go to the git-ignored test/e2e/.artifacts/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page, Request } from "playwright-core";

export { executablePath, launchChromium } from "./browser";

const ARTIFACTS = join(import.meta.dirname, ".artifacts");

export interface ConsolePage {
  page: Page;
  /** Every request the page made, in order. */
  requests: Request[];
}

/** A new tab (its own sessionStorage) at the console, recording its requests; errors in the page fail loudly. */
export async function openConsole(browser: Browser, url: string, viewport = { width: 1280, height: 900 }): Promise<ConsolePage> {
  const page = await browser.newPage({ viewport });
  const requests: Request[] = [];
  page.on("request", (request) => requests.push(request));
  page.on("pageerror", (error) => console.error(`[console e2e] page error: ${error.message}`));
  await page.goto(url);
  return { page, requests };
}

/** Answers the token form, which the page shows on its first 401. */
export async function enterToken(page: Page, token: string): Promise<void> {
  await page.waitForSelector("#token-prompt:not([hidden])");
  await page.fill("#token", token);
  await page.click("#token-prompt button[type='submit']");
  await page.waitForSelector("#token-prompt", { state: "hidden" });
}

/** Selects a pipeline and waits until its form is shown. */
export async function choose(page: Page, name: string): Promise<void> {
  await page.waitForSelector(`#pipeline option[value='${name}']`, { state: "attached" });
  await page.selectOption("#pipeline", name);
  await page.waitForSelector(`#input-form[data-pipeline='${name}']`, { state: "attached" });
}

/** Waits until the run shown has this status. */
export async function runStatus(page: Page, status: string, timeout = 15_000): Promise<void> {
  await page.waitForSelector(`#run-status[data-run-status='${status}']`, { state: "attached", timeout });
}

/** The status of each step in the graph, in the pipeline's order. */
export function stepStatuses(page: Page): Promise<[string | null, string | null][]> {
  return page.$$eval("[data-step]", (nodes) => nodes.map((n): [string | null, string | null] => [n.getAttribute("data-step"), n.getAttribute("data-status")]));
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
