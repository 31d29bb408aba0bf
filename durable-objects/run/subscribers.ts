/**
 * Live SSE subscribers of one run: replay from the event log, then fan-out of new events, a
 * heartbeat on idle streams, and dropping subscribers whose writes fail (a disconnect is noticed
 * on a later write: reference/cloudflare-platform.md, probe 2c).
 */
import { concatBytes } from "../../src/bytes";
import { SSE_HEARTBEAT, type EventPosition } from "../../src/sse/frame";
import { isTerminalEvent, type StreamContext, type StreamFormat } from "../../src/streams/format";
import type { RunEvent } from "../../src/runs/protocol";

interface Subscriber {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  format: StreamFormat;
  /** A write is on its way, not yet taken by the reader: later bytes wait in `waiting` and go as one chunk. */
  busy: boolean;
  waiting: Uint8Array[];
  waitingBytes: number;
  /** Closed once what is waiting has gone. */
  closing: boolean;
}

/** A subscriber that lets this much pile up unread is dropped (its client stopped reading). */
const MAX_WAITING_BYTES = 8 * 1024 * 1024;

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
} as const;

const encoder = new TextEncoder();

export class Subscribers {
  private readonly live = new Set<Subscriber>();
  private heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly heartbeatMs: number,
    /** Live subscribers at most (EDGESERVE_MAX_SUBSCRIBERS); `open` refuses one more. */
    private readonly maxLive: number,
    /** The run as formats need to see it; asked at each write, so it is always current. */
    private readonly contextOf: () => StreamContext | undefined,
  ) {}

  get size(): number {
    return this.live.size;
  }

  /**
   * Opens a stream: the preamble, then every frame of `history` after `after` (all of them when it
   * is undefined; `history` starts at `after`'s event), then live events until the terminal one.
   * Returns null when a resumed stream would carry nothing more, and 429 `too_many_subscribers`
   * when the run has its most live subscribers already (a finished run's replay is not live).
   */
  open(format: StreamFormat, history: RunEvent[], options: { finished: boolean; after: EventPosition | undefined }): Response | null {
    const { after } = options;
    if (!options.finished && this.live.size >= this.maxLive) {
      const message = `the run has ${this.live.size} live subscribers, the most it takes (EDGESERVE_MAX_SUBSCRIBERS); try again later`;
      return Response.json({ code: "too_many_subscribers", message }, { status: 429 });
    }
    const frames = history.flatMap((event) => {
      const all = this.frames(format, event);
      return after !== undefined && event.seq === after.seq ? all.slice(after.part + 1) : all;
    });
    // A client that resumes a finished run and has seen everything gets 204, which tells an
    // EventSource to stop reconnecting (WHATWG HTML §9.2.3).
    if (options.finished && after !== undefined && frames.length === 0) return null;

    // A native byte stream: workerd moves each chunk to the response without JavaScript on the read side.
    const { readable, writable } = new IdentityTransformStream();
    const subscriber: Subscriber = { writer: writable.getWriter(), format, busy: false, waiting: [], waitingBytes: 0, closing: false };
    const context = this.contextOf();
    const preamble = context ? format.preamble(context) : "";
    if (preamble) this.write(subscriber, preamble);
    for (const frame of frames) this.write(subscriber, frame);
    if (options.finished) {
      this.close(subscriber);
    } else {
      this.live.add(subscriber);
      this.startHeartbeat();
    }
    return new Response(readable, { headers: SSE_HEADERS });
  }

  /**
   * Sends one event to every subscriber; after a terminal event, closes every stream. The event is
   * rendered and encoded once per stream format, not once per subscriber: a run watched by a
   * thousand browsers pays for one frame and a thousand writes.
   */
  publish(event: RunEvent): void {
    if (this.live.size === 0) return;
    const context = this.contextOf();
    if (!context) return;
    const encoded = new Map<StreamFormat, Uint8Array | null>();
    for (const subscriber of this.live) {
      let bytes = encoded.get(subscriber.format);
      if (bytes === undefined) {
        const frames = subscriber.format.render(event, context);
        bytes = frames.length > 0 ? encoder.encode(frames.join("")) : null;
        encoded.set(subscriber.format, bytes);
      }
      if (bytes) this.writeBytes(subscriber, bytes);
    }
    if (isTerminalEvent(event)) {
      for (const subscriber of this.live) this.close(subscriber);
    }
  }

  private frames(format: StreamFormat, event: RunEvent): string[] {
    const context = this.contextOf();
    return context ? format.render(event, context) : [];
  }

  private write(subscriber: Subscriber, text: string): void {
    this.writeBytes(subscriber, encoder.encode(text));
  }

  /**
   * One write on its way per subscriber: what comes meanwhile is joined and written as one chunk
   * when the reader has taken the last. A subscriber that keeps up gets every frame as it comes; one
   * that falls behind (a thousand streams on one object) gets fewer, larger chunks, not a backlog.
   */
  private writeBytes(subscriber: Subscriber, bytes: Uint8Array): void {
    if (subscriber.busy) {
      subscriber.waiting.push(bytes);
      subscriber.waitingBytes += bytes.byteLength;
      if (subscriber.waitingBytes > MAX_WAITING_BYTES) this.drop(subscriber);
      return;
    }
    subscriber.busy = true;
    subscriber.writer.write(bytes).then(
      () => this.drained(subscriber),
      () => this.drop(subscriber),
    );
  }

  private drained(subscriber: Subscriber): void {
    subscriber.busy = false;
    if (subscriber.waiting.length > 0) {
      const next = concatBytes(subscriber.waiting, subscriber.waitingBytes);
      subscriber.waiting = [];
      subscriber.waitingBytes = 0;
      return this.writeBytes(subscriber, next);
    }
    if (subscriber.closing) subscriber.writer.close().catch(() => undefined);
  }

  private close(subscriber: Subscriber): void {
    this.live.delete(subscriber);
    subscriber.closing = true;
    if (!subscriber.busy) subscriber.writer.close().catch(() => undefined);
    this.stopHeartbeatIfIdle();
  }

  private drop(subscriber: Subscriber): void {
    subscriber.waiting = [];
    subscriber.waitingBytes = 0;
    subscriber.closing = false;
    if (!this.live.delete(subscriber) && !subscriber.busy) return;
    subscriber.writer.abort().catch(() => undefined);
    this.stopHeartbeatIfIdle();
  }

  private startHeartbeat(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => {
      for (const subscriber of this.live) this.write(subscriber, SSE_HEARTBEAT);
    }, this.heartbeatMs);
  }

  private stopHeartbeatIfIdle(): void {
    if (this.live.size === 0 && this.heartbeat !== undefined) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }
}
