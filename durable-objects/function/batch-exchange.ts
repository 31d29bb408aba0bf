/**
 * One batch's exchange with a remote function in StateFun's request-reply protocol: the
 * `ToFunction` request (the address's state and the batch's invocations, in order) and the report
 * its `FromFunction` answer comes to for the runs (outgoing messages, delayed messages and
 * cancellations, egress as the step's outputs). The answer's state mutations are applied by the
 * address's object, in the same transaction as the report. Pure: no storage, no I/O.
 */
import { create, fromBinary } from "@bufbuild/protobuf";
import { storeMessage, type Message } from "../../src/pipeline/message";
import {
  AddressSchema,
  ToFunctionSchema,
  ToFunction_InvocationBatchRequestSchema,
  ToFunction_InvocationSchema,
  ToFunction_PersistedValueSchema,
  TypedValueSchema,
  type FromFunction_InvocationResponse,
  type ToFunction,
  type TypedValue,
} from "../../src/remote/proto/io/statefun/request_reply_pb";
import {
  addressName,
  FUNCTION_ROW_MAX_BYTES,
  remoteReportSchema,
  type FunctionAddress,
  type FunctionMessage,
  type RemoteReport,
} from "../../src/remote/protocol";
import { decodeTypedValue, TypedValueError } from "../../src/remote/typed-value";
import type { MailboxEntry } from "./function-store";

/** The request for one batch: the address's state as it stands, and the batch's invocations in order. */
export function batchRequest(address: FunctionAddress, state: readonly { name: string; value: TypedValue }[], batch: readonly MailboxEntry[]): ToFunction {
  return create(ToFunctionSchema, {
    request: {
      case: "invocation",
      value: create(ToFunction_InvocationBatchRequestSchema, {
        target: create(AddressSchema, address),
        state: state.map(({ name, value }) => create(ToFunction_PersistedValueSchema, { stateName: name, stateValue: value })),
        invocations: batch.map((entry) =>
          create(ToFunction_InvocationSchema, {
            argument: fromBinary(TypedValueSchema, entry.argument),
            ...(entry.caller ? { caller: create(AddressSchema, parseAddress(entry.caller)) } : {}),
          }),
        ),
      }),
    },
  });
}

/**
 * What a batch's answer comes to for its runs: a successful report with the messages and egress it
 * carries, or a failed one naming what the function got wrong (an answer the run could not apply,
 * or one over what an address keeps per outcome).
 */
export function batchReport(
  batch: readonly MailboxEntry[],
  address: FunctionAddress,
  result: FromFunction_InvocationResponse | undefined,
  started: number,
): RemoteReport {
  const first = batch[0]!;
  const keys = batch.map((e) => e.key);
  const label = `remote function ${address.namespace}/${address.type}`;
  try {
    const messages: (FunctionMessage | { cancel: string })[] = [];
    for (const out of result?.outgoingMessages ?? []) {
      if (!out.target || !out.argument) throw new TypedValueError(`sent a message without a target or argument`);
      messages.push(functionMessage(out.target, out.argument));
    }
    for (const delayed of result?.delayedInvocations ?? []) {
      if (delayed.isCancellationRequest) {
        if (delayed.cancellationToken === "") throw new TypedValueError(`sent a cancellation without a token`);
        messages.push({ cancel: delayed.cancellationToken });
        continue;
      }
      if (!delayed.target || !delayed.argument) throw new TypedValueError(`sent a delayed message without a target or argument`);
      if (delayed.delayInMs < 0n) throw new TypedValueError(`sent a delayed message with a negative delay (${delayed.delayInMs} ms)`);
      messages.push({
        ...functionMessage(delayed.target, delayed.argument),
        delayMs: Number(delayed.delayInMs),
        ...(delayed.cancellationToken ? { cancellationToken: delayed.cancellationToken } : {}),
      });
    }
    const outputs = (result?.outgoingEgresses ?? []).map((egress) => {
      if (!egress.argument) throw new TypedValueError(`sent an egress message without an argument`);
      const message: Message = { value: decodeTypedValue(egress.argument, first.call.output), tags: [], keys: [] };
      return storeMessage(message);
    });
    const report: RemoteReport = { ok: true, keys, caller: addressName(address), outputs, messages, ms: Date.now() - started };
    // The run is handed only an outcome it can apply: one its schema refuses would be refused on
    // every delivery, and retried for ever.
    const applicable = remoteReportSchema.safeParse(report);
    if (!applicable.success) throw new TypedValueError(`answered with an outcome that cannot be applied: ${applicable.error.issues[0]?.message ?? "invalid"}`);
    const reportBytes = JSON.stringify(report).length;
    if (reportBytes > FUNCTION_ROW_MAX_BYTES) {
      throw new TypedValueError(
        `answered with ${reportBytes} bytes of messages and egress, over the ${FUNCTION_ROW_MAX_BYTES} a function address keeps per outcome`,
      );
    }
    return report;
  } catch (error) {
    return { ok: false, keys, error: `${label}: ${error instanceof Error ? error.message : String(error)}`, ms: Date.now() - started };
  }
}

function parseAddress(name: string): FunctionAddress {
  const [namespace = "", type = "", ...rest] = name.split("/");
  return { namespace, type, id: rest.join("/") };
}

function functionMessage(
  target: { namespace: string; type: string; id: string },
  argument: { typename: string; hasValue: boolean; value: Uint8Array },
): FunctionMessage {
  return {
    function: `${target.namespace}/${target.type}`,
    id: target.id,
    // No value (`has_value` false) is kept as null, so that the target gets it as it was sent.
    message: storeMessage({ value: argument.hasValue ? argument.value : null, tags: [], keys: [target.id], typename: argument.typename }),
  };
}
