/**
 * The console's live view through a server restart: a `wrangler dev` of its own (no token, so the
 * page reads events with the browser's EventSource) is stopped mid-run and started again on the
 * same port with the same persisted state. The page, never reloaded, keeps reconnecting, reads the
 * run's record, and reaches the run's true final state.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { startDevServer } from "../../scripts/dev-server.mjs";
import { choose, executablePath, launchChromium, openConsole, runStatus, screenshot, stepStatuses } from "./console-browser";

type DevServer = Awaited<ReturnType<typeof startDevServer>>;

describe.skipIf(!executablePath)("web console through a server restart", () => {
  const persistDir = mkdtempSync(join(tmpdir(), "edgeserve-console-restart-"));
  // The watchdog finds the interrupted step a second after the restart, instead of ten.
  const settings = { env: { EDGESERVE_SSE_HEARTBEAT_SECONDS: "1", EDGESERVE_WATCHDOG_SECONDS: "1" }, persistDir };
  let server: DevServer;
  let browser: Browser;

  beforeAll(async () => {
    [server, browser] = await Promise.all([startDevServer(settings), launchChromium()]);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }, 30_000);

  it("keeps following a run while the server restarts, and shows its true final state without a reload", { timeout: 180_000 }, async ({ expect }) => {
    const { page, requests } = await openConsole(browser, `${server.url}/`);
    await choose(page, "sleep");
    await page.fill("#field-ms", "4000");
    await page.click("#run-async");
    await page.waitForSelector("[data-step='sleep'][data-status='running']", { state: "attached" });
    await page.waitForSelector("#connection[data-connection='live']", { state: "attached" });
    const runUrl = page.url();
    // Marks this document: a reload would lose it.
    await page.evaluate(() => document.documentElement.setAttribute("data-test-document", "before-restart"));

    await server.stop();
    await page.waitForSelector("#connection[data-connection='reconnecting']", { state: "attached", timeout: 30_000 });
    await runStatus(page, "running", 1000);
    server = await startDevServer({ ...settings, port: server.port });

    await runStatus(page, "completed", 120_000);
    expect(await page.getAttribute("html", "data-test-document")).toBe("before-restart");
    expect(page.url()).toBe(runUrl);
    expect(await stepStatuses(page)).toEqual([
      ["sleep", "completed"],
      ["out", "completed"],
    ]);
    expect(await page.$$("[data-step][data-status='running']")).toEqual([]);
    expect(await page.textContent("#result")).toContain('"slept": 4000');
    await page.waitForSelector("#connection[data-connection='ended']", { state: "attached" });
    // Without a token the page reads events with EventSource.
    expect(requests.some((r) => r.url().includes("/events") && r.resourceType() === "eventsource")).toBe(true);
    await screenshot(page, "console-after-restart");
  });
});
