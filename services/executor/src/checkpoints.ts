/**
 * Checkpoints: steps an app reports while its call is in flight (`dispatchCheckpoint`, the
 * official SDK's async checkpointing and ours), and a durable endpoint's reports
 * (`endpointCheckpoint`). They reach the owner of the run's partition over core NATS
 * (`jetstep.checkpoint.<p>`, answered while this process owns `p`) or, from a gateway in the same
 * process, through `here`. What is recorded and how the run goes on is the driver's (the executor).
 */
import {
  type CheckpointReply,
  type CheckpointRequest,
  CheckpointRequestSchema,
  type CheckpointStep,
  type DecideOptions,
  type DispatchCheckpoint,
  decideCheckpoint,
  decideEndpointSteps,
  type EndpointCheckpoint,
  isActive,
  type NewRunLogEntry,
  OpCodes,
  type StartRunCommand,
  Subjects,
  statusOf,
} from "@jetstep/core";
import { type BusMessage, type BusSubscription, type Nats, subscribe } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { AppendConflictError } from "./append-errors.ts";
import type { Actor } from "./run-store.ts";

/** What checkpoints need of the executor driving the partition's runs. */
export interface CheckpointDriver {
  now(): number;
  /** Whether this process owns partition `p`, whether its lease is valid right now, and how long for. */
  owns(p: number): boolean;
  valid(p: number): boolean;
  validForMs(p: number): number;
  withActor(runId: string, fn: (actor: Actor) => Promise<void>): Promise<void>;
  /** Applies a start command (a durable endpoint's first report carries one). */
  start(p: number, cmd: StartRunCommand): Promise<void>;
  /** The EVENTS stream's last sequence (a wait matches only later events), if it can be read. */
  eventsLastSeq(): Promise<number | undefined>;
  decideOptions(eventsLastSeq: number | undefined): DecideOptions;
  /** Appends what a checkpoint decided, with the steps' metadata and spans. */
  record(actor: Actor, entries: NewRunLogEntry[], steps: readonly CheckpointStep[]): Promise<void>;
  kick(actor: Actor): Promise<void>;
  /** The dispatch id of the run's discovery call in flight here, if any. */
  dispatchOf(runId: string): string | undefined;
  /** Ends that dispatch (its answer will be void); whether it was the one in flight. */
  endDispatch(runId: string, dispatchId: string): boolean;
  kickLater(runId: string): void;
}

export class Checkpoints {
  private readonly subs = new Map<number, BusSubscription>();

  constructor(
    private readonly nats: Nats,
    private readonly log: Logger,
    private readonly driver: CheckpointDriver,
  ) {}

  /** Answers checkpoints of partition `p`'s runs (core request/reply) while this process owns it. */
  take(p: number): void {
    if (this.subs.has(p)) return;
    const sub = subscribe(this.nats, Subjects.checkpoint(p), (msg) => void this.onCheckpoint(p, msg));
    this.subs.set(p, sub);
  }

  /** Stops answering checkpoints of partition `p` (given up). */
  drop(p: number): void {
    this.subs.get(p)?.unsubscribe();
    this.subs.delete(p);
  }

  dropAll(): void {
    for (const sub of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
  }

  /** A checkpoint of partition `p` given in this process (a gateway beside the executor). */
  here(p: number, req: CheckpointRequest): Promise<CheckpointReply> | undefined {
    return this.subs.has(p) ? this.checkpoint(p, req) : undefined;
  }

  private async onCheckpoint(p: number, msg: BusMessage): Promise<void> {
    let reply: CheckpointReply;
    try {
      const parsed = CheckpointRequestSchema.safeParse(msg.json());
      reply = parsed.success
        ? await this.checkpoint(p, parsed.data)
        : { status: 400, message: `invalid checkpoint: ${parsed.error.message}` };
    } catch (e) {
      reply = { status: 400, message: `invalid checkpoint: ${(e as Error).message}` };
    }
    msg.respond(JSON.stringify(reply));
  }

  /**
   * Records the steps an app reports from a call in flight (`ctx.qi_id` = `req.dispatchId`): 200
   * once appended; 409 when that dispatch is not this run's call in flight here (answered,
   * replaced, the run ended or moved to another owner), so the app stops and its answer is
   * ignored; 503 when RUNS cannot take the append now (the app retries, then answers as before).
   */
  private async checkpoint(p: number, req: CheckpointRequest): Promise<CheckpointReply> {
    if ("endpoint" in req) return this.endpointCheckpoint(p, req);
    return this.leased(p, await this.dispatchCheckpoint(p, req));
  }

  /**
   * A 200 lets the app run the next step in this call: only while the lease is valid, made as the
   * reply leaves, and saying for how long it is (`validForMs`: the gateway, or a NATS worker, turns
   * a reply that reaches it later into a 409). Measured: an executor paused after recording a step
   * and before answering sent its 200 once continued, seconds later, and the app ran the next step
   * while the partition's next owner had already recorded it. The step is recorded either way; on
   * a 409 the app stops, and the run goes on from its log.
   */
  private leased(p: number, reply: CheckpointReply): CheckpointReply {
    if (reply.status !== 200) return reply;
    const validForMs = this.driver.validForMs(p);
    return validForMs > 0
      ? { status: 200, validForMs }
      : { status: 409, message: `the lease of partition ${p} lapsed; the step is recorded` };
  }

  /**
   * A durable endpoint's report: its first one creates the run (in sync mode: the app's request
   * runs it), each records what the app did (see `decideEndpointSteps`), and the run goes on from
   * there (its end, or, once async, timers, waits and calls to the endpoint). 200 recorded (or
   * nothing left to record: a report sent again); 404 no such endpoint run; 409 the run id is
   * another run's; 503 not now (the SDK retries).
   */
  private async endpointCheckpoint(p: number, req: EndpointCheckpoint): Promise<CheckpointReply> {
    if (!this.driver.owns(p) || !this.driver.valid(p))
      return { status: 503, message: `partition ${p} is not held by this executor now` };
    try {
      if (req.start) await this.driver.start(p, req.start);
      const needsSeq = req.steps.some(
        (s) => s.op === OpCodes.waitForEvent || s.op === OpCodes.invokeFunction,
      );
      const eventsLastSeq = needsSeq ? await this.driver.eventsLastSeq() : undefined;
      let reply: CheckpointReply = { status: 200 };
      await this.driver.withActor(req.runId, async (actor) => {
        const ctx = actor.snapshot.context;
        const status = statusOf(actor.snapshot);
        const fnId = req.start?.fnId ?? req.fnId;
        if (status === "empty" || !ctx.endpoint) {
          reply = {
            status: status === "empty" ? 404 : 409,
            message: `run ${req.runId} is not a durable endpoint's run`,
          };
          return;
        }
        if ((fnId !== undefined && fnId !== ctx.fnId) || ctx.partition !== p) {
          reply = { status: 409, message: `run ${req.runId} is another function's run` };
          return;
        }
        if (!isActive(status)) return; // ended: a late or repeated report has nothing to add
        const entries = decideEndpointSteps(ctx, req.steps, this.driver.decideOptions(eventsLastSeq));
        if (typeof entries === "string") {
          reply = { status: 400, message: entries };
          return;
        }
        if (entries.length > 0) {
          await this.driver.record(actor, entries, req.steps);
        }
        await this.driver.kick(actor);
      });
      return reply;
    } catch (e) {
      this.log.warn({ err: e, runId: req.runId }, "could not record a durable endpoint's report");
      return { status: 503, message: `could not record the report: ${(e as Error).message}` };
    }
  }

  private async dispatchCheckpoint(p: number, req: DispatchCheckpoint): Promise<CheckpointReply> {
    let reply: CheckpointReply = { status: 409, message: "the dispatch is not in flight" };
    try {
      await this.driver.withActor(req.runId, async (actor) => {
        const ctx = actor.snapshot.context;
        if (!this.driver.owns(p) || ctx.partition !== p) {
          reply = { status: 409, message: `run ${req.runId} is not driven by this executor` };
          return;
        }
        // Held, but its lease is not renewed yet: the app retries, and its answer carries the step
        // if this stays so. Nothing is recorded on a lease another owner may be taking.
        if (!this.driver.valid(p)) {
          reply = { status: 503, message: `the lease of partition ${p} is being renewed` };
          return;
        }
        if (!isActive(statusOf(actor.snapshot))) {
          reply = { status: 409, message: `run ${req.runId} has ended` };
          return;
        }
        if (this.driver.dispatchOf(req.runId) !== req.dispatchId) {
          reply = { status: 409, message: "stale dispatch: the call was replaced or already answered" };
          return;
        }
        const entries = decideCheckpoint(ctx, req.steps, this.driver.now());
        if (typeof entries === "string") {
          reply = { status: 400, message: entries };
          return;
        }
        await this.driver.record(actor, entries, req.steps);
        reply = { status: 200 }; // if the lease is still valid as it leaves (`leased`)
      });
    } catch (e) {
      if (e instanceof AppendConflictError) {
        // The log holds what this copy did not: the app stops this dispatch (409) and its answer
        // is void (it would report the dispatch as rejected); the run goes on from its log.
        if (this.driver.endDispatch(req.runId, req.dispatchId)) this.driver.kickLater(req.runId);
        return { status: 409, message: e.message };
      }
      this.log.warn({ err: e, runId: req.runId }, "could not record a checkpoint");
      return { status: 503, message: `could not record the checkpoint: ${(e as Error).message}` };
    }
    return reply;
  }
}
