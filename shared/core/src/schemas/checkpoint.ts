/**
 * Checkpoints: an app that runs several `step.run`s in one call reports each result as it
 * completes (the official SDK v4's "async checkpointing": `POST /v1/checkpoint/:runId/async`), so
 * the run's log records it before the app goes on. The executor sends every discovery call with
 * `ctx.fn_id` and `ctx.qi_id` (the dispatch id below); a checkpoint names the dispatch it belongs
 * to, and is accepted only while that dispatch is the run's call in flight at the partition's owner.
 */
import { z } from "zod";
import { InvalidTokenError } from "../errors.ts";
import { StartRunCommandSchema } from "./commands.ts";
import { OpSchema } from "./ops.ts";

/** One step the app ran, as the SDK reports it (its step object carries more; the rest is ignored). */
export const CheckpointStepSchema = OpSchema.extend({
  /** When the step ran: `a` start, `b` duration, both in nanoseconds (official SDK). */
  timing: z.object({ a: z.number(), b: z.number() }).partial().optional().catch(undefined),
});
export type CheckpointStep = z.infer<typeof CheckpointStepSchema>;

/** The body of `POST /v1/checkpoint/:runId/async` (official SDK v4 and ours). */
export const CheckpointBodySchema = z
  .object({
    run_id: z.string().min(1),
    fn_id: z.string().optional(),
    qi_id: z.string().min(1),
    steps: z.array(CheckpointStepSchema).max(1000),
  })
  .loose();
export type CheckpointBody = z.infer<typeof CheckpointBodySchema>;

/** Steps a call in flight reports (`dispatchId` is the call's `ctx.qi_id`). */
export const DispatchCheckpointSchema = z.object({
  runId: z.string().min(1),
  dispatchId: z.string().min(1),
  steps: z.array(CheckpointStepSchema),
});
export type DispatchCheckpoint = z.infer<typeof DispatchCheckpointSchema>;

/**
 * A durable endpoint's report: its first one (`POST /v1/checkpoint`) creates the run (`start`),
 * later ones (`POST /v1/checkpoint/:runId/steps`) name the run's function and app as the first
 * answer gave them.
 */
export const EndpointCheckpointSchema = z.object({
  runId: z.string().min(1),
  endpoint: z.literal(true),
  start: StartRunCommandSchema.optional(),
  fnId: z.string().optional(),
  appId: z.string().optional(),
  steps: z.array(CheckpointStepSchema),
});
export type EndpointCheckpoint = z.infer<typeof EndpointCheckpointSchema>;

/** What a gateway (or a NATS worker) sends the partition's owner on `jetstep.checkpoint.<p>`. */
export const CheckpointRequestSchema = z.union([DispatchCheckpointSchema, EndpointCheckpointSchema]);
export type CheckpointRequest = z.infer<typeof CheckpointRequestSchema>;

/**
 * The owner's answer, as an HTTP status: 200 recorded; 404 no such endpoint run; 409 the dispatch is not (or no longer) the
 * run's call in flight (the SDK stops, and its answer is ignored); 400 a step the checkpoint may
 * not carry; 503 could not record now (the SDK retries, then answers the call the classic way).
 */
export const CheckpointReplySchema = z.object({
  status: z.union([z.literal(200), z.literal(400), z.literal(404), z.literal(409), z.literal(503)]),
  message: z.string().optional(),
  /**
   * On a 200 to a dispatch checkpoint: for how long after the owner made this reply no other
   * executor can call the run (its lease on the partition). The 200 lets the app run its next step,
   * so whoever hands it on must have it within that time (`lateCheckpointReply`).
   */
  validForMs: z.number().nonnegative().optional(),
});
export type CheckpointReply = z.infer<typeof CheckpointReplySchema>;

/**
 * A 200 that took `elapsedMs` (from sending the checkpoint to having the reply, by the sender's
 * clock) to come back, past its `validForMs`, as a 409: the owner may have lost the run's
 * partition since it made the reply (it was paused, say, between deciding and answering), and the
 * next owner may be running the next step already. The step is recorded; the app stops this call
 * and the run goes on from its log. Measured from the send, so no two hosts' clocks are compared:
 * the reply was made after the checkpoint was sent. Anything else is returned as it is.
 */
export function lateCheckpointReply(reply: CheckpointReply, elapsedMs: number): CheckpointReply {
  if (reply.status !== 200 || reply.validForMs === undefined || elapsedMs < reply.validForMs) return reply;
  return {
    status: 409,
    message: `the checkpoint's reply came ${Math.round(elapsedMs)} ms after it was sent, past the ${Math.round(reply.validForMs)} ms the executor's lease was valid for; the step is recorded`,
  };
}

/**
 * The error name an app answers its call with after a checkpoint was refused as stale (409): the
 * executor ignores that answer, it is never a step's or the run's outcome.
 */
export const STALE_DISPATCH_ERROR = "StaleDispatchError";

/**
 * A dispatch id (`ctx.qi_id` of a call): `<partition>-<token>`, the token unguessable (it is what
 * lets a checkpoint write to the run). The partition routes a checkpoint to the owner.
 */
export function dispatchId(partition: number, token: string): string {
  return `${partition}-${token}`;
}

/** The partition a dispatch id names; throws InvalidTokenError for anything else. */
export function partitionOfDispatch(id: string): number {
  const m = /^(\d{1,5})-[A-Za-z0-9_]{8,64}$/.exec(id);
  const p = m ? Number(m[1]) : Number.NaN;
  if (!Number.isInteger(p) || p > 65535) throw new InvalidTokenError("qi_id", id);
  return p;
}
