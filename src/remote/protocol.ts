/**
 * The contract between Run objects and function-address objects (one Durable Object per StateFun
 * address, `namespace/type/id`): a Run object hands an invocation to its address, the address
 * reports each batch's outcome back to the run, and a run that ends with invocations handed over
 * tells their addresses so. Validated on receipt with these schemas.
 */
import * as z from "zod";
import { storedMessageSchema } from "../pipeline/message";

/**
 * A function address keeps each waiting invocation, each state value and each undelivered outcome
 * as one SQLite row, and the platform refuses a row over 2 MB: what would be larger is refused
 * with a clear error before it is written.
 */
export const FUNCTION_ROW_MAX_BYTES = 1_900_000;

export const addressSchema = z.strictObject({
  namespace: z.string().min(1),
  type: z.string().min(1),
  id: z.string().min(1),
});
export type FunctionAddress = z.infer<typeof addressSchema>;

export function addressName(address: FunctionAddress): string {
  return `${address.namespace}/${address.type}/${address.id}`;
}

/** How to reach the function and what to do with its answers: resolved by the Run object from its pipeline. */
export const remoteCallSchema = z.strictObject({
  url: z.url(),
  /** StateFun's transport: OkHttp's retry rules, or the async one's (retry everything while the budget lasts). */
  // Absent from invocations stored before it existed: those were all made with OkHttp's rules.
  transport: z.enum(["okhttp", "async"]).default("okhttp"),
  timeouts: z.strictObject({ call: z.number().positive(), connect: z.number().positive(), read: z.number().positive(), write: z.number().positive() }),
  payloadMaxBytes: z.number().int().positive(),
  maxNumBatchRequests: z.number().int(),
  output: z.enum(["auto", "json", "string", "bytes"]),
});
export type RemoteCall = z.infer<typeof remoteCallSchema>;

export const remoteInvocationSchema = z.strictObject({
  address: addressSchema,
  /** The work item's idempotency key: a second invocation with the same key is a duplicate. */
  key: z.string().min(1),
  runId: z.string().min(1),
  pipeline: z.string().min(1),
  step: z.string().min(1),
  /** The argument, a serialized `TypedValue`. */
  argument: z.instanceof(Uint8Array),
  /** The sending function's address (`namespace/type/id`), for a message from another function. */
  caller: z.string().optional(),
  call: remoteCallSchema,
  /** The run's deadline (epoch ms): an invocation still waiting then is dropped without a call. */
  deadlineAt: z.number().int().positive(),
});
export type RemoteInvocation = z.infer<typeof remoteInvocationSchema>;

/** A run ended (any way): its invocations still waiting at the address are dropped without a call. */
export const runEndedSchema = z.strictObject({
  runId: z.string().min(1),
  /** The run's deadline: until then an invocation of the run may still be on its way to the address. */
  deadlineAt: z.number().int().positive(),
});
export type RunEnded = z.infer<typeof runEndedSchema>;

export type EnqueueOutcome = { accepted: true } | { accepted: false; retryAfterMs: number; queued: number };

/** A message a function sent to another function (`ns/type`, id), possibly after a delay. */
const functionMessageSchema = z.strictObject({
  function: z.string().min(1),
  id: z.string().min(1),
  message: storedMessageSchema,
  delayMs: z.number().min(0).optional(),
  cancellationToken: z.string().optional(),
});
export type FunctionMessage = z.infer<typeof functionMessageSchema>;

/** A delayed message's cancellation (StateFun's `is_cancellation_request`). */
const cancellationSchema = z.strictObject({ cancel: z.string().min(1) });

export const remoteReportSchema = z.discriminatedUnion("ok", [
  z.strictObject({
    ok: z.literal(true),
    /** The invocations of the batch, in order; the batch's outputs are the step's outputs for all of them. */
    keys: z.array(z.string().min(1)).min(1),
    caller: z.string(),
    outputs: z.array(storedMessageSchema),
    /** Messages to functions and cancellations of delayed ones, in the order the function made them. */
    messages: z.array(z.union([functionMessageSchema, cancellationSchema])),
    ms: z.number().min(0),
  }),
  z.strictObject({
    ok: z.literal(false),
    keys: z.array(z.string().min(1)).min(1),
    error: z.string(),
    ms: z.number().min(0),
  }),
]);
export type RemoteReport = z.infer<typeof remoteReportSchema>;
