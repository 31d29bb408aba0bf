/** The one place that maps a StateFun address to its FunctionObject stub. */
import type { FunctionObject } from "../../durable-objects/function/function-object";
import { addressName, type EnqueueOutcome, type RemoteInvocation } from "./protocol";

export function enqueueInvocation(namespace: DurableObjectNamespace<FunctionObject>, invocation: RemoteInvocation): Promise<EnqueueOutcome> {
  const stub = namespace.get(namespace.idFromName(addressName(invocation.address)));
  return stub.enqueue(invocation) as Promise<EnqueueOutcome>;
}
