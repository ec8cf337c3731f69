/**
 * What the `defer()` ops of an answer or a checkpoint record: `defer.added` (scheduled, or
 * rejected with the reason) and `defer.aborted`.
 */
import {
  MAX_DEFER_INPUT_BYTES,
  MAX_DEFER_INPUT_TOTAL_BYTES,
  MAX_DEFERS_PER_RUN,
  MAX_NAME_LENGTH,
} from "./limits.ts";
import { opName } from "./op-fields.ts";
import type { DeferState, RunContext } from "./run-context.ts";
import type { NewRunLogEntry } from "./schemas/log.ts";
import { type Op, OpCodes } from "./schemas/ops.ts";
import { IncomingEventMetaSchema, type StoredEventMeta, storedEventMeta } from "./sessions.ts";

/**
 * The `defer.added` / `defer.aborted` entries for the defer ops among `ops`, in order. A defer
 * already recorded is not recorded again (the SDK may send it again after a lost answer); an
 * abort of a defer not (or no longer) scheduled records nothing. A defer Jetstep cannot send is
 * recorded as rejected with the reason, and never fails the run (`defer()` is fire-and-forget).
 */
export function decideDefers(ctx: RunContext, ops: readonly Op[], ts: number): NewRunLogEntry[] {
  const out: NewRunLogEntry[] = [];
  const known = new Map<string, DeferState["status"]>(
    Object.values(ctx.defers ?? {}).map((d) => [d.deferId, d.status]),
  );
  let count = known.size;
  let bytes = 0;
  for (const d of Object.values(ctx.defers ?? {})) if (d.input) bytes += jsonBytes(d.input);
  for (const op of ops) {
    if (op.op === OpCodes.deferAbort) {
      const target = op.opts?.target_hashed_id;
      if (typeof target !== "string" || known.get(target) !== "scheduled") continue;
      known.set(target, "aborted");
      out.push({ type: "defer.aborted", ts, deferId: target });
      continue;
    }
    if (op.op !== OpCodes.deferAdd || known.has(op.id)) continue;
    const added = deferAdded(op, ts, count, bytes);
    known.set(op.id, added.rejected === undefined ? "scheduled" : "rejected");
    count++;
    if (added.input) bytes += jsonBytes(added.input);
    out.push(added);
  }
  return out;
}

const jsonBytes = (v: unknown): number => new TextEncoder().encode(JSON.stringify(v)).length;

function deferAdded(
  op: Op,
  ts: number,
  count: number,
  bytesSoFar: number,
): Extract<NewRunLogEntry, { type: "defer.added" }> {
  const fnSlug = op.opts?.fn_slug;
  const base = {
    type: "defer.added" as const,
    ts,
    deferId: op.id,
    name: opName(op).slice(0, MAX_NAME_LENGTH),
    fnSlug: typeof fnSlug === "string" ? fnSlug.slice(0, MAX_NAME_LENGTH) : "",
  };
  const reject = (why: string) => ({ ...base, rejected: why });
  if (typeof fnSlug !== "string" || fnSlug.length === 0 || fnSlug.length > MAX_NAME_LENGTH)
    return reject(`opts.fn_slug: must be a function id of 1 to ${MAX_NAME_LENGTH} characters`);
  if (count >= MAX_DEFERS_PER_RUN) return reject(`a run may defer at most ${MAX_DEFERS_PER_RUN} runs`);
  const input = op.opts?.input ?? {};
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return reject("opts.input: must be an object (the deferred event's data)");
  const size = jsonBytes(input);
  if (size > MAX_DEFER_INPUT_BYTES)
    return reject(`opts.input: is ${size} bytes; at most ${MAX_DEFER_INPUT_BYTES}`);
  if (bytesSoFar + size > MAX_DEFER_INPUT_TOTAL_BYTES)
    return reject(`the run's deferred inputs would exceed ${MAX_DEFER_INPUT_TOTAL_BYTES} bytes`);
  let meta: StoredEventMeta | undefined;
  if (op.opts?.meta !== undefined) {
    const parsed = IncomingEventMetaSchema.safeParse(op.opts.meta);
    if (!parsed.success) return reject(`opts.meta: ${parsed.error.issues[0]?.message ?? "invalid"}`);
    try {
      meta = storedEventMeta(parsed.data);
    } catch (e) {
      return reject(`opts.meta: ${(e as Error).message}`);
    }
  }
  return { ...base, input: input as Record<string, unknown>, ...(meta ? { meta } : {}) };
}
