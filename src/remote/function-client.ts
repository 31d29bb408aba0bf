/** The one place that maps a StateFun address to its FunctionObject stub. */
import { addressName, type EnqueueOutcome, type RemoteInvocation, type RunEnded } from "./protocol";

function stubOf(namespace: Env["FUNCTIONS"], address: string) {
  return namespace.get(namespace.idFromName(address));
}

export function enqueueInvocation(namespace: Env["FUNCTIONS"], invocation: RemoteInvocation): Promise<EnqueueOutcome> {
  return stubOf(namespace, addressName(invocation.address)).enqueue(invocation) as Promise<EnqueueOutcome>;
}

/** Tells the address `address` (`namespace/type/id`) that a run it was handed invocations of has ended. */
export async function tellRunEnded(namespace: Env["FUNCTIONS"], address: string, notice: RunEnded): Promise<void> {
  await stubOf(namespace, address).runEnded(notice);
}
