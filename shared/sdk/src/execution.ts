import { STALE_DISPATCH_ERROR } from "@jetstep/core";
import type { CallBody } from "./call-schema.ts";
import type { Checkpointer } from "./checkpoint.ts";
import { type DeferFn, LazyOps } from "./defer.ts";
import { ErrorCode, JetstepError, StepError } from "./errors.ts";
import { type Logger, replayAwareLogger } from "./logger.ts";
import { type MemoEntry, parseMemoEntry } from "./memo.ts";
import { serializeError, toError } from "./serialize-error.ts";
import { hashStepId, StepIdAllocator } from "./step-ids.ts";
import { createStepTools, type EventInput, type StepRequest, type StepTools } from "./step-tools.ts";
import { activeTraceId, newSpanId, withStepSpan } from "./tracing.ts";
import { isNonRetriable, retryAfterOf } from "./user-errors.ts";
import { type OutgoingOp, type SerializedError, StepOpCode } from "./wire.ts";

/** `false`: fail now; `true`: retry with backoff; a string: retry after this `Retry-After` value. */
export type Retriability = boolean | string;

/** What one call produced; `answer.ts` turns it into HTTP. */
export type ExecutionResult =
  | { type: "function-resolved"; data: unknown }
  | { type: "function-rejected"; error: SerializedError; retriable: Retriability }
  | { type: "step-ran"; op: OutgoingOp; retriable?: Retriability; lazy?: OutgoingOp[] }
  | { type: "steps-found"; ops: OutgoingOp[]; retriable?: Retriability }
  | {
      type: "step-not-found";
      stepId: string;
      foundSteps: { id: string; name?: string; displayName: string }[];
    };

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

/** `id` of the "complete" pseudo step, whose ops carry the run's end when defers ride along. */
const RUN_COMPLETE_ID = hashStepId("complete");

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

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * Found memoized steps waiting to be resolved: those with a position in completion order come out
 * earliest position first (a binary heap), the others in the order found, after them. A call
 * replaying 10,000 memoized invokes scanned the whole queue and the stack for every step (O(n²)
 * each time, minutes in all).
 */
class MemoQueue {
  readonly #byId = new Map<string, FoundStep>();
  readonly #heap: { pos: number; step: FoundStep }[] = [];
  readonly #unordered: FoundStep[] = [];
  #head = 0;

  get size(): number {
    return this.#byId.size;
  }

  get(hashedId: string): FoundStep | undefined {
    return this.#byId.get(hashedId);
  }

  push(step: FoundStep, pos: number | undefined): void {
    this.#byId.set(step.hashedId, step);
    if (pos === undefined) {
      this.#unordered.push(step);
      return;
    }
    const heap = this.#heap;
    heap.push({ pos, step });
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as { pos: number }).pos <= pos) break;
      [heap[i], heap[parent]] = [heap[parent] as (typeof heap)[number], heap[i] as (typeof heap)[number]];
      i = parent;
    }
  }

  shift(): FoundStep | undefined {
    const step = this.#heap.length > 0 ? this.#popHeap() : this.#unordered[this.#head++];
    if (this.#head === this.#unordered.length) {
      this.#unordered.length = 0;
      this.#head = 0;
    }
    if (step) this.#byId.delete(step.hashedId);
    return step;
  }

  #popHeap(): FoundStep {
    const heap = this.#heap;
    const top = heap[0] as (typeof heap)[number];
    const last = heap.pop() as (typeof heap)[number];
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && (heap[l] as typeof last).pos < (heap[m] as typeof last).pos) m = l;
        if (r < heap.length && (heap[r] as typeof last).pos < (heap[m] as typeof last).pos) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as typeof last, heap[i] as typeof last];
        i = m;
      }
    }
    return top.step;
  }
}

class Execution {
  readonly #input: ExecuteCallInput;
  readonly #memo = new Map<string, MemoEntry>();
  readonly #unseenMemo = new Set<string>();
  /** Position of each memoized step in completion (stack) order. */
  readonly #order = new Map<string, number>();
  readonly #ids = new StepIdAllocator();
  readonly #newSteps: FoundStep[] = [];
  /** Memoized steps found and not yet resolved (see `#resolveNextMemoized`). */
  readonly #memoQueue = new MemoQueue();
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
    return this.#ship(await this.#execute());
  }

  /**
   * Adds the buffered defers to the answer: with the step ran or the steps found, or before the
   * end of the run (the function's value or error as the ops of its "complete" pseudo step, as
   * the official SDK sends them). An answer to a stale call is void: its defers come again with
   * the next call.
   */
  #ship(result: ExecutionResult): ExecutionResult {
    if (result.type === "step-not-found") return result;
    if (result.type === "function-rejected" && result.error.name === STALE_DISPATCH_ERROR) return result;
    const lazy = this.#lazy.drain();
    if (lazy.length === 0) return result;
    switch (result.type) {
      case "function-resolved":
        return {
          type: "steps-found",
          ops: [...lazy, { id: RUN_COMPLETE_ID, op: StepOpCode.RunComplete, data: result.data }],
        };
      case "function-rejected": {
        const op = result.retriable === false ? StepOpCode.StepFailed : StepOpCode.StepError;
        return {
          type: "steps-found",
          ops: [...lazy, { id: RUN_COMPLETE_ID, op, error: result.error }],
          retriable: result.retriable,
        };
      }
      case "step-ran":
        return { ...result, lazy };
      case "steps-found":
        return { ...result, ops: [...result.ops, ...lazy] };
    }
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
      const outcome = await checkpoint({
        runId: this.#input.call.ctx.run_id,
        fnId: this.#input.call.ctx.fn_id as string,
        dispatchId: this.#input.call.ctx.qi_id as string,
        steps: [
          {
            id: op.id,
            op: StepOpCode.StepRun,
            ...(op.name !== undefined ? { name: op.name } : {}),
            displayName: op.displayName ?? op.id,
            ...(op.opts ? { opts: op.opts } : {}),
            data: op.data ?? null,
            timing: { a: startNs, b: Date.now() * 1e6 - startNs },
            ...(spanId ? { span_id: spanId } : {}),
          },
          ...lazy,
        ],
      });
      // Not recorded now: the result (and the defers) ride in the answer, as without checkpoints.
      if (outcome === "unavailable") {
        this.#lazy.restore(lazy);
        return result;
      }
      if (outcome === "stale") {
        return {
          type: "function-rejected",
          error: serializeError(
            Object.assign(new Error("Jetstep replaced this call; its answer is ignored"), {
              name: STALE_DISPATCH_ERROR,
            }),
          ),
          retriable: false,
        };
      }
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
        return this.#settledResult();
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
    this.#executing = true;
    let value: unknown;
    try {
      value = await (run ? (spanId ? withStepSpan(spanId, run) : run()) : undefined);
    } catch (error) {
      return this.#stepFailure(base, error);
    } finally {
      this.#executing = false;
    }
    const json = toJsonValue(value);
    if (!json.ok) return this.#stepFailure(base, json.error);
    return { type: "step-ran", op: { ...base, data: json.value } };
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
      return this.#stepFailure(base, error);
    }
    const entry = this.#memo.get(step.hashedId);
    this.#executing = true;
    let value: unknown;
    try {
      value = await compensate(entry?.kind === "error" ? undefined : entry?.data);
    } catch (error) {
      return this.#stepFailure(base, error);
    } finally {
      this.#executing = false;
    }
    const json = toJsonValue(value);
    if (!json.ok) return this.#stepFailure(base, json.error);
    return { type: "step-ran", op: { ...base, data: json.value } };
  }

  #stepFailure(base: OutgoingOp, thrown: unknown): ExecutionResult {
    const retriable = this.#retriability(thrown);
    const error = serializeError(thrown);
    if (retriable === false) {
      const data = { __serialized: true, name: error.name, message: error.message, stack: "" };
      return { type: "step-ran", op: { ...base, op: StepOpCode.StepFailed, error, data }, retriable };
    }
    return { type: "step-ran", op: { ...base, op: StepOpCode.StepError, error, data: null }, retriable };
  }

  #settledResult(): ExecutionResult {
    const outcome = this.#outcome;
    if (!outcome) return this.#rejected(new Error("handler did not settle"));
    if (!outcome.ok) return this.#rejected(outcome.error);
    const json = toJsonValue(outcome.value);
    return json.ok ? { type: "function-resolved", data: json.value } : this.#rejected(json.error);
  }

  #rejected(thrown: unknown): ExecutionResult {
    const error = toError(thrown);
    return { type: "function-rejected", error: serializeError(error), retriable: this.#retriability(error) };
  }

  #retriability(error: unknown): Retriability {
    const { attempt, max_attempts } = this.#input.call.ctx;
    if (max_attempts != null && attempt >= max_attempts - 1) return false;
    if (isNonRetriable(error)) return false;
    return retryAfterOf(error) ?? true;
  }
}

/** The value as it will read back from JSON (`undefined` → `null`), or a non-retriable error. */
function toJsonValue(value: unknown): { ok: true; value: unknown } | { ok: false; error: JetstepError } {
  try {
    const text = JSON.stringify(value);
    return { ok: true, value: text === undefined ? null : JSON.parse(text) };
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    return {
      ok: false,
      error: new JetstepError(ErrorCode.NotSerializable, `Result is not JSON-serializable: ${reason}`, {
        cause,
        retriable: false,
      }),
    };
  }
}
