/**
 * How the ops an app sends are read, by every decision that takes them (answers, checkpoints,
 * durable endpoints' reports): the name a step is recorded under, which ops are defers, and
 * which step ids are acceptable.
 */
import { MAX_NAME_LENGTH, subjectProblem } from "./limits.ts";
import { Subjects } from "./names.ts";
import { type Op, OpCodes } from "./schemas/ops.ts";

/** `id` of the official SDK's "complete" pseudo step (sha1 of "complete"), as its ops carry it. */
export const RUN_COMPLETE_OP_ID = "0737c22d3bfae812339732d14d8c7dbd6dc4e09c";

/** The name an op's step is recorded under. */
export const opName = (op: Op): string => op.displayName ?? op.name ?? op.id;

/** Whether the op is a `defer()` (added or aborted), decided apart from the others. */
export const isDeferOp = (op: Op): boolean => op.op === OpCodes.deferAdd || op.op === OpCodes.deferAbort;

/**
 * What is wrong with a step id an app sent, or null. Ids go into timer subjects and wait keys
 * (escaped), so they are held to the limits of names: the SDKs send 40-character hashes.
 */
export function stepIdProblem(id: string): string | null {
  if (id.length > MAX_NAME_LENGTH) return `step id is ${id.length} characters; at most ${MAX_NAME_LENGTH}`;
  const problem = subjectProblem(Subjects.timer(0, "R", id));
  return problem ? `step id ${problem}` : null;
}
