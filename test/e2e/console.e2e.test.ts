/**
 * The web console in a real headless Chromium (playwright-core driving the system's Chromium)
 * against the suite's `wrangler dev`, which has a bearer token: the page asks for it, and reads
 * event streams with fetch and the Authorization header. Each test waits on the page's own signals
 * (data-run-status, data-step/data-status, data-event-type…), never on fixed sleeps. Without a
 * browser these tests are skipped, saying why. (console-restart.e2e.test.ts: a server restart.)
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, inject, it } from "vitest";
import { choose, enterToken, executablePath, launchChromium, openConsole, runStatus, screenshot, stepStatuses, type ConsolePage } from "./console-browser";
import { EXAMPLE_PIPELINES } from "../helpers/example-pipelines";
import { baseUrl, postJson, uniqueId } from "./helpers";

describe.skipIf(!executablePath)("web console in Chromium", () => {
  let browser: Browser;
  let tab: ConsolePage;
  let page: Page;

  beforeAll(async () => {
    browser = await launchChromium();
    tab = await openConsole(browser, `${baseUrl()}/`);
    page = tab.page;
    await enterToken(page, inject("token"));
    await page.waitForSelector("#input-form[data-pipeline]", { state: "attached" });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
  });

  /** Runs with a button and waits for the run to end with this status. */
  async function runAndWait(button: "#run-sync" | "#run-async", status = "completed") {
    await page.click(button);
    await runStatus(page, status);
  }

  it("loads from static assets under a strict CSP with no violation, with its favicon", async ({ expect }) => {
    const fresh = await browser.newPage();
    await fresh.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener("securitypolicyviolation", (event) => seen.push(`${event.violatedDirective} ${event.blockedURI}`));
    });
    const response = await fresh.goto(`${baseUrl()}/`);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await enterToken(fresh, inject("token"));
    await fresh.waitForSelector("#input-form[data-pipeline]", { state: "attached" });
    expect(await fresh.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations)).toEqual([]);
    const icon = await fresh.evaluate(async () => {
      const href = document.querySelector<HTMLLinkElement>("link[rel='icon']")!.href;
      const res = await fetch(href);
      return { path: new URL(href).pathname, status: res.status, type: res.headers.get("content-type") };
    });
    expect(icon).toEqual({ path: "/favicon.svg", status: 200, type: "image/svg+xml" });
    await fresh.close();
  });

  it("asks for the token on the first 401, keeps it in sessionStorage only, and never puts it in a URL", async ({ expect }) => {
    const fresh = await openConsole(browser, `${baseUrl()}/`);
    await fresh.page.waitForSelector("#token-prompt[data-reason='missing']:not([hidden])");
    expect(await fresh.page.textContent("#token-prompt")).toContain("needs a bearer token");
    // A wrong token is refused, and asked for again.
    await fresh.page.fill("#token", "not-the-token");
    await fresh.page.click("#token-prompt button[type='submit']");
    await fresh.page.waitForSelector("#token-prompt[data-reason='refused']:not([hidden])");
    expect(await fresh.page.textContent("#token-message")).toContain("refused");
    await enterToken(fresh.page, inject("token"));
    await fresh.page.waitForSelector("#pipeline option[value='word-stats']", { state: "attached" });

    // A run followed live: an EventSource on the run's events with a stream ticket, never the token.
    await choose(fresh.page, "word-stats");
    await fresh.page.fill("#field-text", "to be or not to be");
    await fresh.page.click("#run-async");
    await runStatus(fresh.page, "completed");
    await fresh.page.waitForSelector("[data-event-type='run_completed']", { state: "attached" });

    const storage = await fresh.page.evaluate(() => ({
      session: sessionStorage.getItem("edgeserve-token"),
      local: localStorage.length,
      cookies: document.cookie,
    }));
    expect(storage).toEqual({ session: inject("token"), local: 0, cookies: "" });
    const urls = fresh.requests.map((r) => r.url());
    expect(urls.filter((u) => u.includes(inject("token")) || u.includes("not-the-token"))).toEqual([]);
    const events = fresh.requests.filter((r) => r.url().includes("/events"));
    expect(events.length).toBeGreaterThan(0);
    for (const request of events) {
      expect(request.resourceType()).toBe("eventsource");
      const ticket = new URL(request.url()).searchParams.get("ticket");
      expect(ticket).toMatch(/^est1\./);
      expect(ticket).not.toContain(inject("token"));
      expect(await request.headerValue("authorization")).toBeNull();
    }
    // The ticket was minted with the token, in a header.
    const minted = fresh.requests.filter((r) => r.url().endsWith("/stream-ticket"));
    expect(minted.length).toBeGreaterThan(0);
    for (const request of minted) expect(await request.headerValue("authorization")).toBe(`Bearer ${inject("token")}`);
    await fresh.page.close();
  });

  it("lists every pipeline with the default one selected, and runs a memory-only one sync", async ({ expect }) => {
    const fresh = await openConsole(browser, `${baseUrl()}/`);
    await enterToken(fresh.page, inject("token"));
    await fresh.page.waitForSelector("#input-form[data-pipeline='word-stats']", { state: "attached" });
    expect(await fresh.page.inputValue("#pipeline")).toBe("word-stats");
    const names = await fresh.page.$$eval("#pipeline option", (options) => options.map((o) => (o as HTMLOptionElement).value));
    expect(names.sort()).toEqual([...EXAMPLE_PIPELINES]);

    await choose(fresh.page, "word-stats-memory");
    expect(await fresh.page.isDisabled("#run-async")).toBe(true);
    await fresh.page.fill("#field-text", "a b a");
    await fresh.page.click("#run-sync");
    await runStatus(fresh.page, "completed");
    expect(JSON.parse((await fresh.page.textContent("#result")) ?? "")).toMatchObject({ words: 3, unique: 2 });
    await fresh.page.close();
  });

  it("shows chat's reply growing while generate streams, then the whole reply as the result", async ({ expect }) => {
    await choose(page, "chat");
    // 40 words at the model's 25 ms pace: a second of streaming.
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    await page.fill("#field-prompt", words.join(" "));
    await page.click("#run-async");
    // Part of the reply is shown while the run is still running.
    await page.waitForFunction(() => {
      const output = document.querySelector<HTMLElement>("#live-output");
      const status = document.querySelector("#run-status")?.getAttribute("data-run-status");
      return status === "running" && Number(output?.dataset.deltas ?? 0) > 0;
    });
    const partial = (await page.textContent("#live-output")) ?? "";
    expect(partial.length).toBeGreaterThan(0);
    await runStatus(page, "completed");
    const reply = [...words].reverse().join(" ");
    expect(reply.startsWith(partial)).toBe(true);
    expect(await page.textContent("#live-output")).toBe(reply);
    expect(JSON.parse((await page.textContent("#result")) ?? "")).toEqual({ text: reply, tokens: 40 });
  });

  it("runs word-stats sync and shows the finished run: status, graph, step timeline, result", async ({ expect }) => {
    await choose(page, "word-stats");
    await page.fill("#field-text", "the cat and the hat");
    await runAndWait("#run-sync");
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
    expect(await stepStatuses(page)).toEqual([
      ["normalise", "completed"],
      ["count", "completed"],
      ["summarise", "completed"],
      ["out", "completed"],
    ]);
    // The per-step timeline: a start and a duration for every step.
    const rows = await page.$$eval("[data-timeline-step]", (trs) =>
      trs.map((tr) => ({
        step: tr.getAttribute("data-timeline-step"),
        start: tr.querySelector("[data-start]")?.getAttribute("data-start"),
        duration: tr.querySelector("[data-duration]")?.getAttribute("data-duration"),
      })),
    );
    expect(rows.map((r) => r.step)).toEqual(["normalise", "count", "summarise", "out"]);
    for (const row of rows) {
      expect(Number(row.start), row.step ?? "").toBeGreaterThanOrEqual(0);
      expect(Number(row.duration), row.step ?? "").toBeGreaterThanOrEqual(0);
      expect(row.duration, row.step ?? "").not.toBe("");
    }

    expect(await page.textContent("#recent")).toContain("word-stats · completed");
  });

  it("draws sentences' conditional edges with their tags, none hidden behind a step; event numbers past 9 are readable", async ({ expect }) => {
    await choose(page, "sentences");
    await page.fill("#field-text", "One. Two? Three. Four? Five.");
    await runAndWait("#run-async");
    const results = JSON.parse((await page.textContent("#result")) ?? "[]") as { kind: string }[];
    expect(results.map((r) => r.kind).sort()).toEqual(["question", "question", "statement", "statement", "statement"]);
    expect(await page.textContent("[data-edge-tag='split->shout']")).toBe("question");
    expect(await page.textContent("[data-edge-tag='split->out']")).toBe("statement");
    // No point of the split → out edge, and no part of its tag, lies inside shout's box.
    const overlap = await page.evaluate(() => {
      const rect = document.querySelector("[data-step='shout'] rect") as SVGRectElement;
      const box = rect.getBBox();
      const inside = (x: number, y: number) => x > box.x && x < box.x + box.width && y > box.y && y < box.y + box.height;
      const path = document.querySelector("[data-edge='split->out']") as SVGPathElement;
      const length = path.getTotalLength();
      const points = Array.from({ length: 101 }, (_, i) => path.getPointAtLength((length * i) / 100));
      const tag = (document.querySelector("[data-edge-tag='split->out']") as SVGTextElement).getBBox();
      const tagOverlaps = tag.x < box.x + box.width && tag.x + tag.width > box.x && tag.y < box.y + box.height && tag.y + tag.height > box.y;
      return { edgeInside: points.some((p) => inside(p.x, p.y)), tagOverlaps };
    });
    expect(overlap).toEqual({ edgeInside: false, tagOverlaps: false });

    // More than 9 events, and the 10th's number is shown whole (not clipped by the list).
    await page.waitForSelector("[data-event-type='run_completed']", { state: "attached" });
    const tenth = await page.$eval("#timeline li[data-seq='10'] .seq", (seq) => {
      const list = document.querySelector("#timeline")!.getBoundingClientRect();
      const box = seq.getBoundingClientRect();
      return { text: seq.textContent, inside: box.left >= list.left && box.right <= list.right, clipped: seq.scrollWidth > seq.clientWidth };
    });
    expect(tenth).toEqual({ text: "10", inside: true, clipped: false });
    await screenshot(page, "console-finished-run");
  });

  it("disables the run buttons while a run starts: a double click starts one run", async ({ expect }) => {
    await choose(page, "sleep");
    await page.fill("#field-ms", "300");
    const starts = () => tab.requests.filter((r) => r.method() === "POST" && new URL(r.url()).pathname === "/v1/pipelines/sleep/runs").length;
    const before = starts();
    await page.dblclick("#run-async");
    await runStatus(page, "completed");
    expect(starts() - before).toBe(1);
    expect(await page.isEnabled("#run-async")).toBe(true);
  });

  it("never leaves the status at 'starting' after an error, and shows the error readably", async ({ expect }) => {
    await choose(page, "sleep");
    await page.fill("#field-ms", "999999");
    await page.click("#run-sync");
    await page.waitForSelector("#error:not([hidden])");
    await runStatus(page, "none");
    const text = (await page.textContent("#error")) ?? "";
    expect(text).toContain("invalid_input, HTTP 400");
    expect(text).toContain("• ms:");
    expect(await page.isEnabled("#run-sync")).toBe(true);
  });

  it("shows a step running with its start in the timeline, and cancels the run with its cancel button", async ({ expect }) => {
    await choose(page, "sleep");
    await page.fill("#field-ms", "20000");
    await page.click("#run-async");
    await page.waitForSelector("[data-step='sleep'][data-status='running']", { state: "attached" });
    await runStatus(page, "running");
    expect(await page.getAttribute("[data-timeline-step='sleep']", "data-status")).toBe("running");
    expect(await page.getAttribute("[data-timeline-step='sleep'] [data-start]", "data-start")).not.toBe("");
    await page.click("[data-action='cancel']");
    await runStatus(page, "cancelled");
    expect(await page.$$("[data-step][data-status='running']")).toEqual([]);
    expect(await page.isDisabled("[data-action='cancel']")).toBe(true);
  });

  it("opens a run by its URL, whichever surface started it, and follows it live", async ({ expect }) => {
    const id = uniqueId("console-url");
    const res = await postJson("/pipelines/sleep/v1/process/async", { ms: 1500 }, { "X-Numaflow-Id": id });
    expect(res.status).toBe(200);
    await page.goto(`${baseUrl()}/?pipeline=sleep&run=${encodeURIComponent(id)}`);
    await page.waitForFunction((runId) => document.querySelector("#run-link")?.textContent === runId, id);
    await runStatus(page, "completed");
    await page.waitForSelector("[data-event-type='run_completed']", { state: "attached" });
    expect(await page.textContent("#result")).toContain('"slept": 1500');
    expect(await stepStatuses(page)).toEqual([
      ["sleep", "completed"],
      ["out", "completed"],
    ]);
  });

  it("lists recent runs as links with hrefs, reached with Tab and opened with Enter", async ({ expect }) => {
    await choose(page, "word-stats");
    await page.fill("#field-text", "keyboard");
    await runAndWait("#run-async");
    const id = (await page.textContent("#run-link")) ?? "";
    await choose(page, "sleep");
    await page.fill("#field-ms", "10");
    await runAndWait("#run-async");
    const href = await page.getAttribute(`#recent a[data-run-link='${id}']`, "href");
    expect(href).toBe(`/?pipeline=word-stats&run=${encodeURIComponent(id)}`);
    // Tab from the top of the page until the link has the focus.
    await page.focus("#pipeline");
    for (let i = 0; i < 30 && !(await page.evaluate((runId) => document.activeElement?.getAttribute("data-run-link") === runId, id)); i++) {
      await page.keyboard.press("Tab");
    }
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-run-link"))).toBe(id);
    await page.keyboard.press("Enter");
    await page.waitForFunction((runId) => document.querySelector("#run-link")?.textContent === runId, id);
    await runStatus(page, "completed");
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(href);
  });

  it("is usable at 420 px wide: nothing wider than the screen, and a run from start to end", async ({ expect }) => {
    await page.setViewportSize({ width: 420, height: 860 });
    try {
      await choose(page, "sentences");
      await page.fill("#field-text", "Narrow? Yes.");
      await runAndWait("#run-async");
      const layout = await page.evaluate(() => {
        const fits = (selector: string) => {
          const box = document.querySelector(selector)!.getBoundingClientRect();
          return box.left >= 0 && box.right <= window.innerWidth;
        };
        return {
          pageWidth: document.documentElement.scrollWidth,
          buttons: fits("#run-sync") && fits("#run-async"),
          graph: fits("#graph"),
          steps: fits("#steps"),
        };
      });
      expect(layout).toEqual({ pageWidth: 420, buttons: true, graph: true, steps: true });
      await screenshot(page, "console-420px");
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });
});
