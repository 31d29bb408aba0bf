/**
 * A remote step's invocation, built from its definition, the pipeline's endpoints and the work
 * item's message: which address it goes to, the argument as StateFun `TypedValue` bytes, and how
 * the function is reached. Pure module: no platform imports.
 */
import { toBinary } from "@bufbuild/protobuf";
import type { RemoteStepDefinition } from "../pipeline/definition";
import type { Message } from "../pipeline/message";
import { matchEndpoint, resolveFunctionUrl, type EndpointSpec } from "./endpoint";
import type { FunctionAddress, RemoteInvocation } from "./protocol";
import { TypedValueSchema } from "./proto/io/statefun/request_reply_pb";
import { encodeArgument } from "./typed-value";

export interface InvocationRequest {
  step: RemoteStepDefinition;
  /** The pipeline's endpoints; the one serving the step's function is used. */
  endpoints: readonly EndpointSpec[];
  /** The step's input; its first key is the address id (the run id without one). */
  message: Message;
  /** The work item's idempotency key. */
  key: string;
  runId: string;
  pipeline: string;
  /** The run's deadline (epoch ms). */
  deadlineAt: number;
  /** The Worker's environment (an endpoint's base URL may come from it). */
  env: Readonly<Record<string, unknown>>;
}

/**
 * The invocation that hands `message` to the step's function. Throws when no endpoint serves the
 * function, the argument cannot be encoded as the step's argument type, or the URL is not valid.
 */
export function buildInvocation(request: InvocationRequest): RemoteInvocation {
  const { step, endpoints, message, key, runId, pipeline, deadlineAt, env } = request;
  const endpoint = matchEndpoint(endpoints, step.function);
  if (!endpoint) throw new Error(`no endpoint serves function '${step.function}'`);
  return {
    address: invocationAddress(step, message, runId),
    key,
    runId,
    pipeline,
    step: step.name,
    argument: toBinary(TypedValueSchema, encodeArgument(message, step.argumentType)),
    ...(message.caller ? { caller: message.caller } : {}),
    call: {
      url: resolveFunctionUrl(endpoint, step.function, env),
      transport: endpoint.transport,
      timeouts: endpoint.timeouts,
      payloadMaxBytes: endpoint.payloadMaxBytes,
      maxNumBatchRequests: endpoint.maxNumBatchRequests,
      output: step.output,
    },
    deadlineAt,
  };
}

/** The address a step's invocation with `message` goes to: the step's function, the message's first key (else the run id). */
export function invocationAddress(step: RemoteStepDefinition, message: Message, runId: string): FunctionAddress {
  const [namespace = "", type = ""] = step.function.split("/");
  return { namespace, type, id: message.keys[0] ?? runId };
}
