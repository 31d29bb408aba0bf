/**
 * The API reference at `/docs` in a real headless Chromium, with every request to anything but
 * the server aborted (as on a machine without internet): it renders the native API's operations
 * from this server alone, on a deployment without tokens (a second `wrangler dev`, started here)
 * and on the suite's server with tokens, where the page asks for the token and renders once given
 * one. No request the page makes is refused by its content security policy.
 * The second server is started like `npm run dev -- --port N`: it prints the console's URL on N.
 * Without a browser the page's tests are skipped, saying why.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, inject, it, vi } from "vitest";
import { startDevServer } from "../../scripts/dev-server.mjs";
import { executablePath, launchChromium } from "./browser";
import { baseUrl } from "./helpers";

/** Summaries of operations in the document (src/surfaces/native/routes.ts), as the reference shows them. */
const OPERATIONS = ["The deployed pipelines", "A completed run's results", "Cancel a run (between steps)"];

interface OpenedPage {
  page: Page;
  /** Requests to other hosts, aborted. */
  blocked: string[];
  /** Content refused by the page's policy, and uncaught errors. */
  problems: string[];
}

/** A server without tokens, started through scripts/dev.mjs with `--port <free port>`; its output. */
let openServer: Awaited<ReturnType<typeof startDevServer>> | undefined;
const devOutput: string[] = [];

beforeAll(async () => {
  openServer = await startDevServer({ log: (line: string) => devOutput.push(line) });
}, 120_000);

afterAll(async () => {
  await openServer?.stop();
});

describe("npm run dev", () => {
  it("prints the console's and the API reference's URLs on the port it was given", async ({ expect }) => {
    const { port } = openServer!;
    // The two lines may reach this process in separate chunks: wait for both.
    await vi.waitFor(
      () => {
        expect(devOutput).toContain(`[edgeserve] console:       http://127.0.0.1:${port}/`);
        expect(devOutput).toContain(`[edgeserve] API reference: http://127.0.0.1:${port}/docs`);
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});

describe.skipIf(!executablePath)("API reference in Chromium, offline", () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  async function open(url: string): Promise<OpenedPage> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const blocked: string[] = [];
    const problems: string[] = [];
    await page.route("**/*", (route) => {
      const host = new URL(route.request().url()).hostname;
      if (host === "127.0.0.1" || host === "localhost") return route.continue();
      blocked.push(route.request().url());
      return route.abort("internetdisconnected");
    });
    page.on("console", (message) => {
      if (message.type() === "error" && /content security policy/i.test(message.text())) problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    await page.goto(url);
    return { page, blocked, problems };
  }

  async function expectOperations({ page, problems }: OpenedPage) {
    for (const name of OPERATIONS) await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    return problems;
  }

  it("renders the operations without tokens, from this server alone", async ({ expect }) => {
    const opened = await open(`${openServer!.url}/docs`);
    expect(await expectOperations(opened)).toEqual([]);
    expect(await opened.page.isHidden("#token-form")).toBe(true);
    expect(opened.blocked).toEqual([]);
    await opened.page.close();
  });

  it("asks for the token when tokens are configured, refuses a wrong one, and renders with the right one", async ({ expect }) => {
    const opened = await open(`${baseUrl()}/docs`);
    const { page } = opened;
    await page.waitForSelector("#token-form", { state: "visible" });
    expect(await page.textContent("#token-message")).toContain("needs a bearer token");

    await page.fill("#token", "not-the-token");
    await page.click("#token-form button");
    await page.waitForFunction(() => document.querySelector("#token-message")?.textContent?.includes("refused"));

    await page.fill("#token", inject("token"));
    await page.click("#token-form button");
    expect(await expectOperations(opened)).toEqual([]);
    expect(await page.isHidden("#token-form")).toBe(true);
    expect(opened.blocked).toEqual([]);

    // The token is kept for the session (the console reads the same key): a reload asks no more.
    await page.reload();
    await expectOperations(opened);
    expect(await page.isHidden("#token-form")).toBe(true);
    await page.close();
  });
});
