/** The Worker's entry: the Hono app for HTTP, and every Durable Object class the runtime must find. */
import { createApp } from "./app";
import { registerSocketProtocol, registerStreamFormat } from "./streams/format";
import { nativeStreamFormat } from "./surfaces/native/stream-format";
import { numaflowDeltasStreamFormat, numaflowStreamFormat } from "./surfaces/numaflow/stream-format";
import { zenmlSocketProtocol, zenmlStreamFormat } from "./surfaces/zenml/stream-format";
import { RUN_EVENTS_DLQ, RUN_EVENTS_QUEUE } from "./engine/run-index";
import { consumeRunEvents, consumeRunEventsDeadLetters } from "./queues/run-events-consumer";
import { consumeStageDeadLetters, consumeStages } from "./queues/stage-consumer";
import { STAGE_DLQ, STAGE_QUEUE } from "./queues/stage-message";

export { AdmissionObject, FunctionObject, RunObject, RunShard } from "../durable-objects/index";

// The surfaces' stream framings, registered for the Run objects (which know only the interface).
registerStreamFormat("numaflow", numaflowStreamFormat);
registerStreamFormat("numaflow-deltas", numaflowDeltasStreamFormat);
registerStreamFormat("zenml", zenmlStreamFormat);
registerStreamFormat("native", nativeStreamFormat);
registerSocketProtocol(zenmlSocketProtocol);

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue === RUN_EVENTS_QUEUE) return consumeRunEvents(batch, env);
    if (batch.queue === RUN_EVENTS_DLQ) return consumeRunEventsDeadLetters(batch, env);
    if (batch.queue === STAGE_QUEUE) return consumeStages(batch, env);
    if (batch.queue === STAGE_DLQ) return consumeStageDeadLetters(batch, env);
    console.error(`edgeserve: no consumer for queue '${batch.queue}'; acknowledging ${batch.messages.length} messages`);
    batch.ackAll();
  },
} satisfies ExportedHandler<Env, unknown>;
