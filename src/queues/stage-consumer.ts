/**
 * The stage queue's consumer: runs queued steps. Each message is handled on its own and acked or
 * retried on its own: claim the stage from its Run object, run the step, report the outputs. A
 * failed attempt is retried after the step's backoff until its retry policy is used up; then the
 * stage goes to the dead-letter queue, whose consumer (below) fails the step in its Run object.
 *
 * Delivery is at least once, so a stage may arrive twice or late: the Run object refuses a claim
 * for work that is settled or a run that has ended, and ignores a second report of the same key.
 */
import { ChaosFault, stageFault, type StageFaultPoint } from "../chaos";
import { findPipeline } from "../catalog";
import { invokeStep } from "../pipeline/invoke-step";
import { loadMessage, storeMessage, type StoredMessage } from "../pipeline/message";
import { backoffSeconds } from "../pipeline/retry";
import { ignoreDelta, type QueuedStepDefinition } from "../pipeline/definition";
import { RunClient } from "../engine/run-client";
import type { StageClaimOutcome } from "../runs/stage-protocol";
import { deadLetterSchema, stageLabel, stageMessageSchema, type StageFailure, type StageMessage } from "./stage-message";
import { unpackStage } from "./stage-transport";

/** Delay before a stage is tried again when its Run object could not be reached. */
const RUN_UNREACHABLE_RETRY_SECONDS = 2;

export async function consumeStages(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const fault = new InvocationFault(stageFault(env));
  const outcomes = await Promise.allSettled(batch.messages.map((message) => consumeStage(message, env, fault)));
  // Only an injected fault escapes a message's handling; it fails the invocation as a crash would,
  // so every message not yet acked or retried is delivered again.
  const crashed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (crashed) throw crashed.reason;
}

async function consumeStage(message: Message<unknown>, env: Env, fault: InvocationFault): Promise<void> {
  const parsed = stageMessageSchema.safeParse(message.body);
  if (!parsed.success) {
    console.error(`edgeserve stages: dropped message ${message.id}, not a stage: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    return message.ack();
  }
  const stage = parsed.data;
  const run = new RunClient(env, stage.pipeline, stage.runId);
  fault.at("before-claim", stage);
  let claim: StageClaimOutcome;
  try {
    claim = await run.claimStage(stage.key);
  } catch (error) {
    console.error(`edgeserve stages: ${stageLabel(stage)}: its run could not be reached, will retry: ${String(error)}`);
    return message.retry({ delaySeconds: RUN_UNREACHABLE_RETRY_SECONDS });
  }
  if (!claim.proceed) {
    // Not wanted (a duplicate, a resend after the step finished, a run that ended or is gone): logged, acknowledged.
    console.log(`edgeserve stages: ${stageLabel(stage)}: not run (${claim.reason}); acknowledged`);
    return message.ack();
  }
  fault.at("after-claim", stage);

  const step = queuedStep(stage);
  const startedAt = Date.now();
  let outputs: StoredMessage[] | undefined;
  let failure: string | undefined;
  if (typeof step === "string") {
    failure = step;
  } else {
    try {
      const input = loadMessage(await unpackStage(env.PAYLOADS, stage));
      const context = {
        runId: stage.runId,
        pipeline: stage.pipeline,
        step: stage.step,
        headers: claim.headers,
        emit: ignoreDelta,
        env: env as unknown as Readonly<Record<string, unknown>>,
      };
      outputs = (await invokeStep(step.run, input, context, step.timeoutSeconds)).map(storeMessage);
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    }
  }
  fault.at("after-run", stage);
  const ms = Date.now() - startedAt;

  if (outputs !== undefined) {
    try {
      const reported = await run.completeStage({ key: stage.key, attempt: claim.attempt, outputs, ms });
      if (!reported.accepted) console.log(`edgeserve stages: ${stageLabel(stage)}: outputs not needed (${reported.reason})`);
    } catch (error) {
      console.error(`edgeserve stages: ${stageLabel(stage)}: reporting its outputs failed, will retry: ${String(error)}`);
      return message.retry({ delaySeconds: RUN_UNREACHABLE_RETRY_SECONDS });
    }
    fault.at("after-report", stage);
    return message.ack();
  }

  const error = failure ?? "unknown failure";
  const maxAttempts = typeof step === "string" ? 1 : step.retry.maxAttempts;
  if (claim.attempt >= maxAttempts) {
    const dead: StageFailure = { ...stageAddress(stage), kind: "stage_failure", attempts: claim.attempt, error };
    try {
      await env.STAGE_DLQ.send(dead, { contentType: "json" });
    } catch (sendError) {
      console.error(`edgeserve stages: ${stageLabel(stage)}: the dead-letter queue refused it, will retry: ${String(sendError)}`);
      return message.retry({ delaySeconds: RUN_UNREACHABLE_RETRY_SECONDS });
    }
    return message.ack();
  }
  const delaySeconds = typeof step === "string" ? 0 : backoffSeconds(step.retry, claim.attempt);
  try {
    await run.retryStage({ key: stage.key, attempt: claim.attempt, error, delaySeconds, ms });
  } catch (reportError) {
    // Only the event and the lease are lost: the retry still happens, and the lease only grows.
    console.error(`edgeserve stages: ${stageLabel(stage)}: reporting the retry failed: ${String(reportError)}`);
  }
  message.retry({ delaySeconds });
}

/**
 * The dead-letter queue's consumer: stages whose retries are used up (sent by the consumer above
 * with the last error) or that the queue gave up on (consumers that kept crashing). Each marks its
 * step failed, which fails the run.
 */
export async function consumeStageDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  await Promise.all(
    batch.messages.map(async (message) => {
      const parsed = deadLetterSchema.safeParse(message.body);
      if (!parsed.success) {
        console.error(`edgeserve stages: dropped dead letter ${message.id}, not a stage: ${parsed.error.issues[0]?.message ?? "invalid"}`);
        return message.ack();
      }
      const dead = parsed.data;
      const report =
        dead.kind === "stage_failure"
          ? { key: dead.key, attempts: dead.attempts, error: dead.error }
          : { key: dead.key, attempts: message.attempts, error: "the stage queue gave up on it: its consumer crashed on every delivery" };
      try {
        const outcome = await new RunClient(env, dead.pipeline, dead.runId).failStage(report);
        if (!outcome.accepted) console.log(`edgeserve stages: dead letter ${stageLabel(dead)} ignored (${outcome.reason})`);
        message.ack();
      } catch (error) {
        console.error(`edgeserve stages: dead letter ${stageLabel(dead)}: its run could not be reached, will retry: ${String(error)}`);
        message.retry({ delaySeconds: RUN_UNREACHABLE_RETRY_SECONDS });
      }
    }),
  );
}

/** The step a stage names, or why it cannot run here (a deploy removed or changed the pipeline). */
function queuedStep(stage: StageMessage): QueuedStepDefinition | string {
  const pipeline = findPipeline(stage.pipeline);
  if (!pipeline) return `pipeline '${stage.pipeline}' is not deployed`;
  const step = pipeline.definition.steps.find((s) => s.name === stage.step);
  if (step?.kind !== "queued") return `pipeline '${stage.pipeline}' has no queued step '${stage.step}'`;
  return step;
}

function stageAddress(stage: StageMessage) {
  return { runId: stage.runId, pipeline: stage.pipeline, step: stage.step, key: stage.key };
}

/** The chaos fault of one consumer invocation: thrown once, by the first message to reach its point. */
class InvocationFault {
  private thrown = false;
  constructor(private readonly point: StageFaultPoint | undefined) {}

  /** `stage` is named in the log line so that `npm run chaos` can tell which run each crash hit. */
  at(point: StageFaultPoint, stage: StageMessage): void {
    if (this.point !== point || this.thrown) return;
    this.thrown = true;
    console.warn(`edgeserve chaos: injected a consumer crash ${point} at ${stageLabel(stage)}`);
    throw new ChaosFault(`chaos: stage consumer invocation failed ${point}`);
  }
}
