/**
 * `defer()`: runs another function once this run has ended, however it ends (the official v4
 * SDK's `DeferAdd` / `DeferAbort`). A defer is fire-and-forget: it is buffered here and rides
 * along with the call's next message to Jetstep (a checkpoint, or the answer), which records it
 * once per id; the call body's `defers` lists those already recorded, so replaying the handler
 * sends none twice. `abort()` cancels it until the run ends (not once Jetstep says it is no longer
 * abortable).
 */
import { hashStepId } from "./step-ids.ts";
import { type OutgoingOp, StepOpCode } from "./wire.ts";

/** The target of `defer()`: a function made with `client.createDefer`. */
export interface DeferTarget {
  readonly deferSlug: string;
}

export interface DeferHandle {
  /** Cancels the deferred run (does nothing once Jetstep no longer lets it be aborted). */
  abort(): void;
}

/** `ctx.defer(id, { function, data })`. */
export type DeferFn = (
  id: string,
  opts: { function: DeferTarget; data?: Record<string, unknown> },
) => DeferHandle;

/** The defers of one call: what the handler asked for, not yet shipped. */
export class LazyOps {
  #buffer: OutgoingOp[] = [];
  readonly #seen = new Set<string>();

  constructor(
    private readonly prior: Readonly<Record<string, { abortable?: boolean | undefined }>>,
    private readonly warn: (message: string, fields: Record<string, unknown>) => void,
  ) {}

  /** Takes the ops to ship with the next message (put them back with `restore` if it failed). */
  drain(): OutgoingOp[] {
    const ops = this.#buffer;
    this.#buffer = [];
    return ops;
  }

  restore(ops: OutgoingOp[]): void {
    this.#buffer = [...ops, ...this.#buffer];
  }

  readonly defer: DeferFn = (id, opts) => {
    const noop: DeferHandle = { abort: () => {} };
    const slug = opts?.function?.deferSlug;
    if (typeof id !== "string" || id === "" || typeof slug !== "string") {
      this.warn("defer skipped: it needs an id and a function made with createDefer", { id });
      return noop;
    }
    const data = opts.data ?? {};
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      this.warn("defer skipped: data must be an object", { id });
      return noop;
    }
    const hashedId = hashStepId(id);
    if (this.#seen.has(hashedId)) {
      this.warn("defer skipped: duplicate id within the run", { id });
      return noop;
    }
    this.#seen.add(hashedId);
    // Recorded by an earlier call: not sent again.
    if (!this.prior[hashedId]) {
      this.#buffer.push({
        id: hashedId,
        op: StepOpCode.DeferAdd,
        name: id,
        displayName: id,
        opts: { fn_slug: slug, input: data },
        userland: { id },
      });
    }
    return { abort: () => this.#abort(id, hashedId, slug) };
  };

  #abort(id: string, hashedId: string, slug: string): void {
    if (this.prior[hashedId]?.abortable === false) return;
    const abortId = hashStepId(`${hashedId}:abort`);
    if (this.#seen.has(abortId)) return;
    this.#seen.add(abortId);
    const before = this.#buffer.length;
    this.#buffer = this.#buffer.filter((op) => !(op.op === StepOpCode.DeferAdd && op.id === hashedId));
    // Never shipped: nothing to abort.
    if (this.#buffer.length < before) return;
    this.#buffer.push({
      id: abortId,
      op: StepOpCode.DeferAbort,
      name: id,
      displayName: id,
      opts: { target_hashed_id: hashedId, fn_slug: slug, id },
      userland: { id },
    });
  }
}
