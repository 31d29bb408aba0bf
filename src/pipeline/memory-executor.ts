/**
 * Memory-only execution: runs a pipeline whose steps are all inline directly in the Worker, with
 * no Durable Object, no storage and no events (ZenML's memory-only capture mode). The fastest sync
 * path; nothing of the run survives the request. Pure module: no platform imports.
 */
import { ignoreDelta, type StepContext } from "./definition";
import { routeOutputs, type Pipeline } from "./graph";
import type { Message } from "./message";
import { fanoutProblem, isThenable, normaliseStepOutput } from "./step-output";

/** `stepsExecuted`: step invocations that completed, not counting deliveries to sinks (ZenML's `steps_executed`). */
export type MemoryOutcome =
  | { status: "completed"; results: Message[]; stepsExecuted: number }
  | { status: "failed"; step: string; message: string }
  | { status: "timeout" };

export interface MemoryRunContext {
  runId: string;
  /** The headers steps see; called once, when a step first reads `context.headers` (most never do). */
  headers: () => Record<string, string>;
  timeoutMs: number;
  maxFanout: number;
  env: Readonly<Record<string, unknown>>;
}

/** The timer functions the deadline uses (the platform's by default; tests pass their own). */
export interface Timers {
  set: (callback: () => void, ms: number) => ReturnType<typeof setTimeout>;
  clear: (timer: ReturnType<typeof setTimeout>) => void;
}

const PLATFORM_TIMERS: Timers = { set: (callback, ms) => setTimeout(callback, ms), clear: (timer) => clearTimeout(timer) };

interface Pending {
  step: string;
  message: Message;
}

export async function runInMemory(pipeline: Pipeline, input: Message, context: MemoryRunContext, timers: Timers = PLATFORM_TIMERS): Promise<MemoryOutcome> {
  const deadline = new Deadline(Date.now() + context.timeoutMs, timers);
  let headers: Record<string, string> | undefined;
  try {
    const results: Message[] = [];
    let stepsExecuted = 0;
    let wave: Pending[] = pipeline.entrySteps.map((step) => ({ step, message: input }));
    while (wave.length > 0) {
      if (deadline.passed) return { status: "timeout" };
      const next: Pending[] = [];
      for (const { step, message } of wave) {
        const definition = pipeline.step(step);
        if (definition.kind !== "inline") return { status: "failed", step, message: `step '${step}' is not inline` };
        const stepContext: StepContext = {
          runId: context.runId,
          pipeline: pipeline.name,
          step,
          get headers() {
            headers ??= context.headers();
            return headers;
          },
          get signal() {
            return deadline.signal;
          },
          emit: ignoreDelta,
          env: context.env,
        };
        let outputs: Message[];
        try {
          let returned = definition.run(message, stepContext);
          if (isThenable(returned)) {
            deadline.arm();
            returned = await returned;
          }
          outputs = normaliseStepOutput(returned);
        } catch (error) {
          if (deadline.passed) return { status: "timeout" };
          return { status: "failed", step, message: `step '${step}' failed: ${error instanceof Error ? error.message : String(error)}` };
        }
        const tooMany = fanoutProblem(outputs.length, context.maxFanout);
        if (tooMany) return { status: "failed", step, message: `step '${step}' failed: ${tooMany}` };
        stepsExecuted++;
        for (const delivery of routeOutputs(pipeline, step, outputs)) {
          if (pipeline.step(delivery.to).kind === "sink") results.push(delivery.message);
          else next.push({ step: delivery.to, message: delivery.message });
        }
      }
      wave = next;
    }
    return { status: "completed", results, stepsExecuted };
  } finally {
    deadline.clear();
  }
}

/**
 * The run's deadline, armed only once a step awaits something: a step that returns at once cannot
 * be interrupted by a timer anyway, and most memory-only runs never await, so they pay for no timer
 * (a timer costs a request about as much as the rest of its steps' plumbing). Its signal aborts when
 * the deadline passes.
 */
class Deadline {
  private controller: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly at: number,
    private readonly timers: Timers,
  ) {}

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller?.signal.aborted ?? false;
  }

  arm(): void {
    if (this.timer !== undefined) return;
    const controller = (this.controller ??= new AbortController());
    this.timer = this.timers.set(() => controller.abort(), Math.max(0, this.at - Date.now()));
  }

  clear(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
  }
}
