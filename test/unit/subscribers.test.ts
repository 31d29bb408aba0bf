/**
 * A run's live subscribers (durable-objects/run/subscribers.ts), in workerd: a reader that falls
 * behind gets every frame, in order, in fewer and larger chunks rather than a backlog of writes;
 * one that stops reading altogether is dropped once 8 MB wait for it.
 */
import { describe, it } from "vitest";
import { Subscribers } from "../../durable-objects/run/subscribers";
import type { RunEvent } from "../../src/runs/protocol";
import type { StreamContext, StreamFormat } from "../../src/streams/format";

const context: StreamContext = {
  runId: "r",
  pipeline: "p",
  status: "running",
  createdAt: 0,
  steps: [],
  parameters: () => null,
  resultOf: () => undefined,
  results: () => null,
};
const lines: StreamFormat = { preamble: () => "", render: (event) => [`${event.seq}:${String(event.data?.text ?? "")}\n`] };
const event = (seq: number, text = ""): RunEvent => ({ seq, at: 0, type: "step_delta", step: "s", data: { text } });

describe("Subscribers", () => {
  it("gives a reader that falls behind every frame in order, in fewer chunks than frames", async ({ expect }) => {
    const subscribers = new Subscribers(60_000, 10, () => context);
    const response = subscribers.open(lines, [], { finished: false, after: undefined })!;
    for (let seq = 1; seq <= 200; seq++) subscribers.publish(event(seq));
    subscribers.publish({ seq: 201, at: 0, type: "run_completed" });
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    let chunks = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks += 1;
      text += decoder.decode(value, { stream: true });
    }
    expect(text).toBe(Array.from({ length: 201 }, (_, i) => `${i + 1}:\n`).join(""));
    expect(chunks).toBeLessThan(201);
  });

  it("drops a subscriber that stops reading once 8 MB wait for it", async ({ expect }) => {
    const subscribers = new Subscribers(60_000, 10, () => context);
    const response = subscribers.open(lines, [], { finished: false, after: undefined })!;
    const megabyte = "x".repeat(1024 * 1024);
    for (let seq = 1; seq <= 10; seq++) subscribers.publish(event(seq, megabyte));
    expect(subscribers.size).toBe(0);
    // Its stream was aborted: reading it fails rather than ending as a complete stream.
    const reader = response.body!.getReader();
    let failed = false;
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
  });
});
