/** When a streaming step's deltas are written: coalesced by time, size and count, never one row per delta. */
import { describe, it, vi } from "vitest";
import { DeltaFlush } from "../../durable-objects/run/delta-flush";

const limits = { maxDelayMs: 100, maxBytes: 4096, maxDeltas: 500 };

function harness() {
  const writes: number[] = [];
  let now = 0;
  const flush = new DeltaFlush(() => {
    writes.push(now);
    flush.written();
  }, limits);
  const advance = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };
  return { flush, writes, advance };
}

describe("DeltaFlush", () => {
  it("writes a trickle of small deltas once per 100 ms, not once per delta", ({ expect }) => {
    vi.useFakeTimers();
    try {
      const { flush, writes, advance } = harness();
      // 40 deltas of 5 bytes, 10 ms apart: 400 ms of output.
      for (let i = 0; i < 40; i++) {
        flush.added(5);
        advance(10);
      }
      advance(100);
      expect(writes).toEqual([100, 200, 300, 400]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("writes at once when 4 KB of text is waiting", ({ expect }) => {
    vi.useFakeTimers();
    try {
      const { flush, writes } = harness();
      flush.added(3000);
      expect(writes).toEqual([]);
      flush.added(1096);
      expect(writes).toEqual([0]);
    } finally {
      vi.useRealTimers();
    }
  });

  it("writes at once when 500 deltas are waiting", ({ expect }) => {
    vi.useFakeTimers();
    try {
      const { flush, writes } = harness();
      for (let i = 0; i < 499; i++) flush.added(1);
      expect(writes).toEqual([]);
      flush.added(1);
      expect(writes).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("counts a write made by anything else (the run's own flush) and starts over", ({ expect }) => {
    vi.useFakeTimers();
    try {
      const { flush, writes, advance } = harness();
      flush.added(10);
      advance(50);
      flush.written();
      advance(100);
      expect(writes).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
