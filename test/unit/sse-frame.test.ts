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
  it("accepts a sequence number, with an optional part, and ignores anything else", ({ expect }) => {
    expect(parseLastEventId("12")).toEqual({ seq: 12, part: 0 });
    expect(parseLastEventId(" 7 ")).toEqual({ seq: 7, part: 0 });
    expect(parseLastEventId("7.1")).toEqual({ seq: 7, part: 1 });
    expect(parseLastEventId("7.")).toBeUndefined();
    expect(parseLastEventId("7.1.2")).toBeUndefined();
    expect(parseLastEventId("abc")).toBeUndefined();
    expect(parseLastEventId("")).toBeUndefined();
    expect(parseLastEventId(null)).toBeUndefined();
  });
});
