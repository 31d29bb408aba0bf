/** SSE framing: multi-line data survives, ids cannot break a frame, Last-Event-ID parsing is strict. */
import { describe, it } from "vitest";
import { encodeSseFrame, parseLastEventId } from "../../src/sse/frame";

describe("encodeSseFrame", () => {
  it("writes id, event and one data line per payload line", ({ expect }) => {
    expect(encodeSseFrame({ id: 3, event: "result", data: "a\nb" })).toBe("id: 3\nevent: result\ndata: a\ndata: b\n\n");
  });

  it("refuses an event name with a line break", ({ expect }) => {
    expect(() => encodeSseFrame({ event: "a\nb", data: "" })).toThrow("single line");
  });
});

describe("parseLastEventId", () => {
  it("accepts a sequence number and ignores anything else", ({ expect }) => {
    expect(parseLastEventId("12")).toBe(12);
    expect(parseLastEventId(" 7 ")).toBe(7);
    expect(parseLastEventId("abc")).toBeUndefined();
    expect(parseLastEventId("")).toBeUndefined();
    expect(parseLastEventId(null)).toBeUndefined();
  });
});
