/**
 * Live SSE subscribers of one run: replay from the event log, then fan-out of new events, a
 * heartbeat on idle streams, and dropping subscribers whose writes fail (a disconnect is noticed
 * on a later write: reference/cloudflare-platform.md, probe 2c).
 */
import { SSE_HEARTBEAT, type EventPosition } from "../../src/sse/frame";
import { isTerminalEvent, type StreamContext, type StreamFormat } from "../../src/streams/format";
import type { RunEvent } from "../../src/runs/protocol";

interface Subscriber {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  format: StreamFormat;
}

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
    const subscriber: Subscriber = { writer: writable.getWriter(), format };
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

  private writeBytes(subscriber: Subscriber, bytes: Uint8Array): void {
    subscriber.writer.write(bytes).catch(() => this.drop(subscriber));
  }

  private close(subscriber: Subscriber): void {
    this.live.delete(subscriber);
    subscriber.writer.close().catch(() => undefined);
    this.stopHeartbeatIfIdle();
  }

  private drop(subscriber: Subscriber): void {
    if (!this.live.delete(subscriber)) return;
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
