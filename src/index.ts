/** The Worker's entry: the Hono app for HTTP, and every Durable Object class the runtime must find. */
import { createApp } from "./app";
import { consumeRunIndex, consumeRunIndexDeadLetters } from "./queues/run-index-consumer";
import { RUN_INDEX_DLQ, RUN_INDEX_QUEUE } from "./runs/run-index-row";
import { consumeStageDeadLetters, consumeStages } from "./queues/stage-consumer";
import { STAGE_DLQ, STAGE_QUEUE } from "./queues/stage-message";

export { AdmissionObject, FunctionObject, RunObject } from "../durable-objects/index";

const app = createApp();

export default {
  fetch: app.fetch,
  async queue(batch, env) {
    if (batch.queue === RUN_INDEX_QUEUE) return consumeRunIndex(batch, env);
    if (batch.queue === RUN_INDEX_DLQ) return consumeRunIndexDeadLetters(batch);
    if (batch.queue === STAGE_QUEUE) return consumeStages(batch, env);
    if (batch.queue === STAGE_DLQ) return consumeStageDeadLetters(batch, env);
    console.error(`edgeserve: no consumer for queue '${batch.queue}'; acknowledging ${batch.messages.length} messages`);
    batch.ackAll();
  },
} satisfies ExportedHandler<Env, unknown>;
