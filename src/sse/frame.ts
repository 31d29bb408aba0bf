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

/** Parses a `Last-Event-ID` (or `?after=`) value: a run's event sequence number, or undefined. */
export function parseLastEventId(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  const trimmed = value.trim();
  if (!/^\d{1,15}$/.test(trimmed)) return undefined;
  return Number(trimmed);
}
