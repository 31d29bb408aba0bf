/** Every Durable Object class of edgeserve; `src/index.ts` re-exports them for the runtime. */
export { AdmissionObject } from "./admission/admission-object";
export { RunObject } from "./run/run-object";
export { FunctionObject } from "./function/function-object";
export { RunShard } from "./shard/run-shard";
