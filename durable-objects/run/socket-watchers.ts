/**
 * WebSocket watchers of a run (ZenML's `WS /stream`), on the Durable Object hibernation API: the
 * runtime holds the sockets, so an idle watcher costs nothing and survives the object being
 * evicted; what each socket is for lives in its attachment, not in memory. The frames themselves
 * are the surface's (src/streams/format.ts `SocketProtocol`).
 */
import type { BlockSlot } from "../../src/admission/protocol";
import type { RunEvent, StartRunOutcome, StartRunRequest } from "../../src/runs/protocol";
import type { Settings } from "../../src/settings";
import { isTerminalEvent, socketProtocolOf, type SocketProtocol, type StreamContext } from "../../src/streams/format";
import type { RunIndexer } from "./run-indexer";

export const SOCKET_TAG = "watcher";

/** The tag of the sockets watching one run: a journal shard holds many runs' sockets. */
export const runSocketTag = (runId: string) => `run:${runId}`;

/** What a socket is waiting for; kept with `serializeAttachment` (≤ 16 KiB). */
export interface SocketAttachment {
  runId: string;
  pipeline: string;
  headers: Record<string, string>;
  /** The admission slot taken by the Worker for this socket's run. */
  slot: BlockSlot | null;
  /** Whether the client's request frame has started the run. */
  started: boolean;
  /** Whether the slot went back because no run started (exactly once). */
  slotReleased: boolean;
  /** When the socket must have sent its request frame (epoch ms); absent on sockets accepted before it was kept. */
  frameDueAt?: number;
}

/**
 * How long a socket may wait before sending its request frame (a ZenML client sends it at once).
 * A socket that sends none holds an admission slot meanwhile, so an idle one would starve the
 * pipeline: once this has passed, the run's alarm gives its slot back and closes it (1008) with
 * an error frame. The alarm, not a timer: a pending timer would keep the object from hibernating.
 * Longer than the ~10 s after which an idle object hibernates: a socket idle that long still works.
 * A test seam: tests shorten it and put it back.
 */
export const socketFirstFrame = { deadlineMs: 60_000 };

/** Normal closure once the run has ended (RFC 6455 §7.4.1). */
const CLOSE_NORMAL = 1000;
/** The request frame was not valid. */
export const CLOSE_POLICY_VIOLATION = 1008;

export function attachmentOf(socket: WebSocket): SocketAttachment | null {
  return socket.deserializeAttachment() as SocketAttachment | null;
}

/** Sends an event to every socket of the run whose run has started. */
export function publishToSockets(state: DurableObjectState, runId: string, protocol: SocketProtocol, event: RunEvent, contextOf: () => StreamContext): void {
  const sockets = state.getWebSockets(runSocketTag(runId)).filter((s) => attachmentOf(s)?.started);
  if (sockets.length === 0) return;
  const frames = protocol.render(event, contextOf());
  for (const socket of sockets) {
    try {
      for (const frame of frames) socket.send(frame);
      if (isTerminalEvent(event)) socket.close(CLOSE_NORMAL, "run ended");
    } catch {
      // The client has gone; the runtime drops the socket.
    }
  }
}

/** The protocol's error frame, then a close. */
export function failSocket(socket: WebSocket, protocol: SocketProtocol, message: string): void {
  try {
    socket.send(protocol.errorFrame(message));
    socket.close(CLOSE_POLICY_VIOLATION, "invalid request");
  } catch {
    // already gone
  }
}

/** What a socket's run needs from its Run object. */
export interface SocketStartDeps {
  ctx: DurableObjectState;
  settings: Settings;
  indexer: RunIndexer;
  /** Starts the run the socket's first frame asks for. */
  start: (request: StartRunRequest) => StartRunOutcome;
  /** Makes sure the run's alarm fires no later than `at` (a socket's first-frame deadline). */
  alarmNoLaterThan: (at: number) => void;
  /** The tag of the sockets this run answers for (every watcher of the object, or the run's own in a shard). */
  socketTag: string;
}

/**
 * Sockets whose run starts from the client's first frame: accepting them, starting the run from
 * that frame, and giving the Worker's admission slot back, once, when no run will use it (a bad
 * frame, a duplicate, or a close before any frame).
 */
export class SocketStarts {
  constructor(private readonly deps: SocketStartDeps) {}

  /** Takes the socket (hibernation API), with what it is for in its attachment. */
  accept(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return Response.json({ code: "bad_request" }, { status: 426 });
    }
    const slot = request.headers.get("x-edgeserve-slot");
    const frameDueAt = Date.now() + socketFirstFrame.deadlineMs;
    const attachment: SocketAttachment = {
      runId: request.headers.get("x-edgeserve-run-id") ?? "",
      pipeline: request.headers.get("x-edgeserve-pipeline") ?? "",
      headers: JSON.parse(request.headers.get("x-edgeserve-step-headers") ?? "{}") as Record<string, string>,
      slot: slot ? (JSON.parse(slot) as BlockSlot) : null,
      started: false,
      slotReleased: false,
      frameDueAt,
    };
    const { 0: client, 1: server } = new WebSocketPair();
    this.deps.ctx.acceptWebSocket(server, [SOCKET_TAG, runSocketTag(attachment.runId)]);
    server.serializeAttachment(attachment);
    this.deps.alarmNoLaterThan(frameDueAt);
    return new Response(null, { status: 101, webSocket: client });
  }

  /**
   * The alarm: a socket past its first-frame deadline gives its slot back and is closed with the
   * reason; the alarm is kept for the next socket still within its own.
   */
  closeIdle(now: number): void {
    let next: number | undefined;
    for (const socket of this.deps.ctx.getWebSockets(this.deps.socketTag)) {
      const attachment = attachmentOf(socket);
      if (!attachment || attachment.started || attachment.slotReleased || attachment.frameDueAt === undefined) continue;
      if (attachment.frameDueAt > now) {
        next = Math.min(next ?? attachment.frameDueAt, attachment.frameDueAt);
        continue;
      }
      this.releaseSlot(socket, attachment);
      failSocket(socket, socketProtocolOf(), `no request frame within ${socketFirstFrame.deadlineMs / 1000} s of connecting`);
    }
    if (next !== undefined) this.deps.alarmNoLaterThan(next);
  }

  /** The client's request frame starts the run; later frames are ignored. */
  async message(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = attachmentOf(socket);
    if (!attachment || attachment.started || attachment.slotReleased) return;
    const protocol = socketProtocolOf();
    const text = typeof message === "string" ? message : new TextDecoder().decode(message);
    const parsed = await protocol.parseStart(text, { settings: this.deps.settings, ...attachment });
    if ("error" in parsed) {
      this.releaseSlot(socket, attachment);
      failSocket(socket, protocol, parsed.error);
      return;
    }
    socket.serializeAttachment({ ...attachment, started: true });
    const outcome = this.deps.start({ ...parsed, ...(attachment.slot ? { admission: attachment.slot } : {}) });
    if (!outcome.started) {
      this.releaseSlot(socket, { ...attachment, started: true });
      failSocket(socket, protocol, `job ${attachment.runId} already exists`);
    }
  }

  close(socket: WebSocket, code: number, reason: string): void {
    const attachment = attachmentOf(socket);
    // Closed before its request frame: no run will use the slot.
    if (attachment && !attachment.started) this.releaseSlot(socket, attachment);
    // Completes the closing handshake; without it the client sees 1006 (reference probe 3a).
    try {
      socket.close(code, reason);
    } catch {
      // already closed
    }
  }

  /** Gives a socket's unused slot back, once. */
  private releaseSlot(socket: WebSocket, attachment: SocketAttachment): void {
    if (attachment.slotReleased || !attachment.slot) return;
    socket.serializeAttachment({ ...attachment, slotReleased: true });
    this.deps.indexer.releaseUnused(attachment.slot, attachment.runId);
  }
}
