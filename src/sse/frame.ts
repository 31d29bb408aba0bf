/**
 * Server-sent event framing (WHATWG HTML §9.2): one frame per event, data split into `data:`
 * lines so a payload with newlines survives, and ids/event names that cannot break a frame.
 */

export interface SseFrame {
  id?: string | number;
  event?: string;
  data: string;
  retryMs?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;

export function encodeSseFrame(frame: SseFrame): string {
  let text = "";
  if (frame.retryMs !== undefined) text += `retry: ${frame.retryMs}\n`;
  if (frame.id !== undefined) text += `id: ${singleLine(String(frame.id), "id")}\n`;
  if (frame.event !== undefined) text += `event: ${singleLine(frame.event, "event")}\n`;
  for (const line of frame.data.split(LINE_BREAK)) text += `data: ${line}\n`;
  return `${text}\n`;
}

/** A comment line: ignored by clients, but it keeps proxies and the platform from closing an idle stream. */
export const SSE_HEARTBEAT = ": ping\n\n";

function singleLine(value: string, field: string): string {
  if (LINE_BREAK.test(value) || value.includes("\0")) throw new Error(`SSE ${field} must be a single line`);
  return value;
}

/**
 * A place in a run's event stream: the event (its sequence number) and which of the frames it
 * became was the last one seen. One event may become several frames (a ZenML step start is
 * followed by its progress update); part 0 is the first.
 */
export interface EventPosition {
  seq: number;
  part: number;
}

/** The SSE id of an event's frame: its sequence number, with `.<part>` for every frame after the first. */
export function eventFrameId(seq: number, part: number): string {
  return part === 0 ? String(seq) : `${seq}.${part}`;
}

/** Parses a `Last-Event-ID` (or `?after=`) value written by `eventFrameId`, or undefined. */
export function parseLastEventId(value: string | null | undefined): EventPosition | undefined {
  const match = /^(\d{1,15})(?:\.(\d{1,3}))?$/.exec(value?.trim() ?? "");
  if (!match) return undefined;
  return { seq: Number(match[1]), part: match[2] === undefined ? 0 : Number(match[2]) };
}
