import type { CallBody } from "./call-schema.ts";
import { type Checkpointer, checkpointedStep } from "./checkpoint.ts";
import { type DeferFn, LazyOps } from "./defer.ts";
import { ErrorCode, JetstepError, StepError } from "./errors.ts";
import {
  type ExecutionResult,
  type Outcome,
  settledResult,
  shipDefers,
  staleCallResult,
  stepFailure,
  stepRanResult,
} from "./execution-result.ts";
import { type Logger, replayAwareLogger } from "./logger.ts";
import { type MemoEntry, parseMemoEntry } from "./memo.ts";
import { MemoQueue } from "./memo-queue.ts";
import { StepIdAllocator } from "./step-ids.ts";
import { createStepTools, type EventInput, type StepRequest, type StepTools } from "./step-tools.ts";
import { activeTraceId, newSpanId, withStepSpan } from "./tracing.ts";
import { type OutgoingOp, StepOpCode } from "./wire.ts";

export interface ExecuteCallInput {
  call: CallBody;
  /** The `stepId` to run, or undefined to discover. */
  requestedStepId: string | undefined;
  /** The step whose compensation to run (`compensate=<hash>`), instead of running anything else. */
  compensateStepId?: string | undefined;
  /** Calls the user's handler with these tools (the caller adds event, runId, …). */
  invokeHandler: (parts: { step: StepTools; logger: Logger; defer: DeferFn }) => unknown;
  /** Logger already carrying runId and fnId. */
  logger: Logger;
  appId: string;
  sendEvents: (events: EventInput[]) => Promise<{ ids: string[] }>;
  /** How long to wait for a requested step to be reached. */
  stepNotFoundTimeoutMs: number;
  /**
   * Reports steps run in this call (see checkpoint.ts). Used when the call allows it (a discovery
   * call with `ctx.fn_id` and `ctx.qi_id`, first attempt): consecutive `step.run`s then run in this
   * one call instead of one call each.
   */
  checkpoint?: Checkpointer;
  /** After this long, a checkpointing call runs no further step and hands the next back (default 10 s). */
  maxRuntimeMs?: number;
}

/** How long a checkpointing call keeps running steps before handing the next one back (as the official SDK). */
export const DEFAULT_MAX_RUNTIME_MS = 10_000;

/**
 * Runs the handler once for an executor call, replaying memoized steps, and decides the answer:
 * - memoized steps resolve one per macrotask in `ctx.stack.stack` order (so `Promise.race` replays
 *   deterministically);
 * - with `requestedStepId`, runs exactly that planned step (or reports it not found);
 * - otherwise, once the handler is blocked on new steps: runs the step at once if it is the only new
 *   one, is a `step.run`/`step.sendEvent`, and `disable_immediate_execution` is false; else returns
 *   them all as ops (StepPlanned, Sleep, WaitForEvent, InvokeFunction);
 * - if the handler finishes first, its value or error.
 * Never throws: every failure becomes a result.
 */
export function executeCall(input: ExecuteCallInput): Promise<ExecutionResult> {
  return new Execution(input).run();
}

interface FoundStep {
  hashedId: string;
  userland: { id: string; index?: number };
  request: StepRequest;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Decision =
  | { kind: "run"; step: FoundStep }
  | { kind: "compensate"; step: FoundStep }
  | { kind: "found" }
  | { kind: "settled" }
  | { kind: "step-not-found" };

class Execution {
  readonly #input: ExecuteCallInput;
  readonly #memo = new Map<string, MemoEntry>();
  readonly #unseenMemo = new Set<string>();
  /** Position of each memoized step in completion (stack) order. */
  readonly #order = new Map<string, number>();
  readonly #ids = new StepIdAllocator();
  readonly #newSteps: FoundStep[] = [];
  /** Memoized steps found and not yet resolved (see `#resolveNextMemoized`). */
  readonly #memoQueue = new MemoQueue<FoundStep>();
  #outcome: Outcome | undefined;
  #checkScheduled = false;
  #decided = false;
  #executing = false;
  #decide: (decision: Decision) => void = () => {};
  /** `defer()`s of this call, shipped with its next message. */
  readonly #lazy: LazyOps;

  constructor(input: ExecuteCallInput) {
    this.#input = input;
    this.#lazy = new LazyOps(input.call.defers ?? {}, (message, fields) =>
      input.logger.warn({ ...fields }, message),
    );
    for (const [hash, value] of Object.entries(input.call.steps ?? {})) {
      this.#memo.set(hash, parseMemoEntry(value));
      this.#unseenMemo.add(hash);
    }
    const stack = input.call.ctx.stack?.stack ?? [];
    for (const id of stack.length > 0 ? stack : this.#memo.keys())
      if (!this.#order.has(id)) this.#order.set(id, this.#order.size);
  }

  async run(): Promise<ExecutionResult> {
    return shipDefers(await this.#execute(), this.#lazy);
  }

  async #execute(): Promise<ExecutionResult> {
    const started = Date.now();
    const checkpoint = this.#checkpointer();
    let decision = await this.#nextDecision(() => this.#startHandler());
    // Checkpointing: run each lone new step.run here, report it, and go on with the handler.
    for (;;) {
      const only = decision.kind === "found" ? this.#immediateStep() : undefined;
      if (!checkpoint || !only) return this.#conclude(decision);
      if (Date.now() - started >= (this.#input.maxRuntimeMs ?? DEFAULT_MAX_RUNTIME_MS)) {
        // Out of time: hand the step back planned; Jetstep calls it by id, then discovers again.
        return { type: "steps-found", ops: [{ ...this.#opBase(only), data: null }] };
      }
      const spanId = activeTraceId() ? newSpanId() : undefined;
      const startNs = Date.now() * 1e6;
      const result = await this.#runStep(only, spanId);
      if (result.type !== "step-ran" || result.op.op !== StepOpCode.StepRun) return result;
      const { op } = result;
      const lazy = this.#lazy.drain();
      const timing = { a: startNs, b: Date.now() * 1e6 - startNs };
      const outcome = await checkpoint({
        runId: this.#input.call.ctx.run_id,
        fnId: this.#input.call.ctx.fn_id as string,
        dispatchId: this.#input.call.ctx.qi_id as string,
        steps: [checkpointedStep(op, timing, spanId), ...lazy],
      });
      // Not recorded now: the result (and the defers) ride in the answer, as without checkpoints.
      if (outcome === "unavailable") {
        this.#lazy.restore(lazy);
        return result;
      }
      if (outcome === "stale") return staleCallResult();
      // Recorded: the handler goes on from the step's value, to the next decision.
      this.#newSteps.length = 0;
      decision = await this.#nextDecision(() => only.resolve(op.data ?? null));
    }
  }

  /** Waits for the next decision; `start` sets the handler going (first) or lets it continue. */
  #nextDecision(start: () => void): Promise<Decision> {
    return new Promise<Decision>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.#decided = false;
      this.#decide = (d) => {
        if (this.#decided) return;
        this.#decided = true;
        if (timer) clearTimeout(timer);
        resolve(d);
      };
      if (this.#input.requestedStepId !== undefined || this.#input.compensateStepId !== undefined) {
        timer = setTimeout(() => this.#decide({ kind: "step-not-found" }), this.#input.stepNotFoundTimeoutMs);
      }
      start();
      this.#schedule();
    });
  }

  /** The checkpointer, when this call may checkpoint (see ExecuteCallInput.checkpoint). */
  #checkpointer(): Checkpointer | undefined {
    const { call, checkpoint, requestedStepId, compensateStepId } = this.#input;
    const ctx = call.ctx;
    if (!checkpoint || requestedStepId !== undefined || compensateStepId !== undefined) return undefined;
    if (!ctx.fn_id || typeof ctx.qi_id !== "string" || !ctx.qi_id) return undefined;
    // A retry's step result goes back in the answer (as the official SDK), with its attempt.
    if (ctx.disable_immediate_execution || ctx.attempt > 0) return undefined;
    return checkpoint;
  }

  /** The one new step, when it may run at once (a lone `step.run`, immediate execution allowed). */
  #immediateStep(): FoundStep | undefined {
    const only = this.#newSteps.length === 1 ? this.#newSteps[0] : undefined;
    if (
      only?.request.run &&
      only.request.op === StepOpCode.StepPlanned &&
      !this.#input.call.ctx.disable_immediate_execution
    )
      return only;
    return undefined;
  }

  #startHandler(): void {
    const logger = replayAwareLogger(this.#input.logger, () => this.#isReplaying());
    const step = createStepTools({
      register: (request) => this.#register(request),
      appId: this.#input.appId,
      sendEvents: this.#input.sendEvents,
    });
    let result: unknown;
    try {
      result = this.#input.invokeHandler({ step, logger, defer: this.#lazy.defer });
    } catch (error) {
      result = Promise.reject(error);
    }
    Promise.resolve(result).then(
      (value) => {
        this.#outcome = { ok: true, value };
        this.#schedule();
      },
      (error: unknown) => {
        this.#outcome = { ok: false, error };
        this.#schedule();
      },
    );
  }

  #isReplaying(): boolean {
    return !this.#decided && !this.#executing && this.#unseenMemo.size > 0;
  }

  #register(request: StepRequest): Promise<unknown> {
    const { hashedId, index } = this.#ids.allocate(request.id);
    return new Promise((resolve, reject) => {
      // Found after the answer was decided (e.g. by a parallel branch while a step ran): the
      // next call will find it again; this promise is left pending with the abandoned handler.
      if (this.#decided) return;
      const step: FoundStep = {
        hashedId,
        userland: index === undefined ? { id: request.id } : { id: request.id, index },
        request,
        resolve,
        reject,
      };
      if (this.#memo.has(hashedId)) {
        this.#unseenMemo.delete(hashedId);
        this.#memoQueue.push(step, this.#order.get(hashedId));
      } else {
        this.#newSteps.push(step);
      }
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#checkScheduled || this.#decided) return;
    this.#checkScheduled = true;
    // A macrotask: by then every microtask the handler queued (awaits, Promise.all) has run.
    setImmediate(() => this.#check());
  }

  #check(): void {
    this.#checkScheduled = false;
    if (this.#decided) return;
    const compensating = this.#input.compensateStepId;
    if (compensating !== undefined) {
      const target = this.#memoQueue.get(compensating);
      if (target) {
        this.#decide({ kind: "compensate", step: target });
        return;
      }
      // Not reached yet: keep replaying memoized steps; new steps or the end mean it is gone.
      if (this.#memoQueue.size === 0 && (this.#newSteps.length > 0 || this.#outcome)) {
        this.#decide({ kind: "step-not-found" });
        return;
      }
    }
    if (this.#memoQueue.size > 0) {
      this.#resolveNextMemoized();
      this.#schedule();
      return;
    }
    const requested = this.#input.requestedStepId;
    if (requested !== undefined) {
      const step = this.#newSteps.find((s) => s.hashedId === requested);
      if (step?.request.run) this.#decide({ kind: "run", step });
      else if (step || this.#outcome) this.#decide({ kind: "step-not-found" });
      return;
    }
    if (this.#newSteps.length > 0) this.#decide({ kind: "found" });
    else if (this.#outcome) this.#decide({ kind: "settled" });
  }

  /**
   * Resolves one memoized step, the earliest in completion order among those found (or the first
   * found, when none is in the stack), and no more before the next macrotask: the handler then
   * reacts to each result before the next is given, so a race replays as it ran.
   */
  #resolveNextMemoized(): void {
    const step = this.#memoQueue.shift();
    if (!step) return;
    const entry = this.#memo.get(step.hashedId);
    if (entry?.kind === "error") step.reject(new StepError(step.userland.id, entry.error));
    else step.resolve(entry?.data);
  }

  async #conclude(decision: Decision): Promise<ExecutionResult> {
    switch (decision.kind) {
      case "run":
        return this.#runStep(decision.step);
      case "compensate":
        return this.#runCompensation(decision.step);
      case "found": {
        const only = this.#immediateStep();
        if (only) return this.#runStep(only);
        return { type: "steps-found", ops: this.#newSteps.map((s) => ({ ...this.#opBase(s), data: null })) };
      }
      case "settled":
        return settledResult(this.#outcome, this.#input.call.ctx);
      case "step-not-found": {
        const foundSteps = this.#newSteps
          .map((s) => ({ id: s.hashedId, name: s.request.opName, displayName: s.request.displayName }))
          .sort((a, b) => a.id.localeCompare(b.id));
        return {
          type: "step-not-found",
          stepId: this.#input.requestedStepId ?? this.#input.compensateStepId ?? "",
          foundSteps,
        };
      }
      default: {
        const _exhaustive: never = decision;
        return _exhaustive;
      }
    }
  }

  #opBase(step: FoundStep): OutgoingOp {
    const { request } = step;
    const op: OutgoingOp = { id: step.hashedId, op: request.op };
    if (request.opName !== undefined) op.name = request.opName;
    op.displayName = request.displayName;
    op.opts = request.opts;
    op.userland = step.userland;
    return op;
  }

  /** Runs a step's body (under span `spanId` when given: spans it makes are that step's). */
  async #runStep(step: FoundStep, spanId?: string): Promise<ExecutionResult> {
    const run = step.request.run;
    // The span id goes with the outcome, so Jetstep records the step's span under it.
    const base: OutgoingOp = {
      ...this.#opBase(step),
      op: StepOpCode.StepRun,
      ...(spanId ? { span_id: spanId } : {}),
    };
    return this.#runBody(base, () => (run ? (spanId ? withStepSpan(spanId, run) : run()) : undefined));
  }

  /** Runs a completed step's compensation with its recorded result; answers like a step. */
  async #runCompensation(step: FoundStep): Promise<ExecutionResult> {
    const base: OutgoingOp = { ...this.#opBase(step), op: StepOpCode.StepRun, opts: { compensation: true } };
    const compensate = step.request.compensate;
    if (!compensate) {
      const error = new JetstepError(
        ErrorCode.NotSerializable,
        `step "${step.userland.id}" has no compensate function`,
        {
          retriable: false,
        },
      );
      return stepFailure(base, error, this.#input.call.ctx);
    }
    const entry = this.#memo.get(step.hashedId);
    return this.#runBody(base, () => compensate(entry?.kind === "error" ? undefined : entry?.data));
  }

  /** Runs user code for a step; meanwhile the handler's logger does not count as replaying. */
  async #runBody(base: OutgoingOp, body: () => unknown): Promise<ExecutionResult> {
    this.#executing = true;
    let value: unknown;
    try {
      value = await body();
    } catch (error) {
      return stepFailure(base, error, this.#input.call.ctx);
    } finally {
      this.#executing = false;
    }
    return stepRanResult(base, value, this.#input.call.ctx);
  }
}
