/**
 * A queue seam for the isolate's batch of sync runs' index rows (src/engine/run-index-batch.ts):
 * the real run-events queue, whose `send` is recorded, and refuses (throws, as a queue does when
 * it is down) while a test says so; and the batch's window, widened while a test says so.
 * Installed in place of the batch's queue (`runIndexBatching.queueOf`) and put back, with the
 * window, by `restore`.
 */
import { runIndexBatching } from "../../src/engine/run-index-batch";
import { runIndexRowsMessageSchema, type RunIndexRowsMessage } from "../../src/engine/run-index";

export interface RecordedBatchQueue {
  /** Messages the queue took, as sent. */
  readonly sent: RunIndexRowsMessage[];
  /** Byte size of each message the queue took, as JSON. */
  readonly sizes: number[];
  /** Sends refused so far. */
  readonly refusals: number;
  refuse(refusing: boolean): void;
  /** How long a batch gathers rows from now on. */
  widenWindow(ms: number): void;
  restore(): void;
}

export function recordBatchQueue(): RecordedBatchQueue {
  const original = runIndexBatching.queueOf;
  const window = runIndexBatching.windowMs;
  const sent: RunIndexRowsMessage[] = [];
  const sizes: number[] = [];
  let refusing = false;
  let refusals = 0;
  runIndexBatching.queueOf = (env) => {
    const queue = original(env);
    const send = async (body: unknown, options?: QueueSendOptions) => {
      if (refusing) {
        refusals++;
        throw new Error("Queue send failed: injected fault");
      }
      await queue.send(body, options);
      sent.push(runIndexRowsMessageSchema.parse(body));
      sizes.push(new TextEncoder().encode(JSON.stringify(body)).byteLength);
    };
    return new Proxy(queue, { get: (target, key) => (key === "send" ? send : Reflect.get(target, key, target)) });
  };
  return {
    sent,
    sizes,
    get refusals() {
      return refusals;
    },
    refuse: (value) => {
      refusing = value;
    },
    widenWindow: (ms) => {
      runIndexBatching.windowMs = ms;
    },
    restore: () => {
      runIndexBatching.queueOf = original;
      runIndexBatching.windowMs = window;
    },
  };
}
