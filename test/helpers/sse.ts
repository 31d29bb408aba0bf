/**
 * Reads a server-sent event stream inside workerd with `eventsource-parser` (a maintained SSE
 * parser, not a hand-rolled one), keeping comments too so tests can see heartbeats.
 */
import { EventSourceParserStream, type EventSourceMessage } from "eventsource-parser/stream";

export interface ReadStream {
  events: EventSourceMessage[];
  comments: string[];
  /** Whether the server closed the stream (rather than the reader stopping early). */
  closed: boolean;
}

/** Reads until the server closes the stream, or until `until` says enough (then cancels it). */
export async function readSse(response: Response, until: (read: ReadStream) => boolean = () => false): Promise<ReadStream> {
  if (!response.body) throw new Error("the response has no body");
  const read: ReadStream = { events: [], comments: [], closed: false };
  const parser = new EventSourceParserStream({ onComment: (comment) => read.comments.push(comment) });
  const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(parser).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      read.closed = true;
      return read;
    }
    read.events.push(value);
    if (until(read)) {
      await reader.cancel();
      return read;
    }
  }
}
