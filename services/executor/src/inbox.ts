/**
 * INBOX commands of owned partitions: start a run, cancel one, apply a matched wait. A command is
 * handled only while its partition is owned and not being handed over (otherwise it is nak'ed for
 * the new owner), is kept from redelivery while it waits for a slot, and one that keeps failing
 * is parked in DEAD_LETTERS.
 */
import {
  type ActiveRun,
  compensableSteps,
  type InboxCommand,
  InboxCommandSchema,
  Keys,
  type NewRunLogEntry,
  runSpecOf,
  runTimeouts,
  type StartRunCommand,
  statusOf,
  type WaitMatchCommand,
} from "@jetstep/core";
import {
  type ActiveStore,
  type Delivery,
  InProgress,
  type Publisher,
  settleFailure,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { AppendConflictError } from "./append-errors.ts";
import type { RunEffects } from "./run-effects.ts";
import { traceIdOf } from "./run-spans.ts";
import type { Actor, RunStore } from "./run-store.ts";
import type { RunTimers } from "./run-timers.ts";
import type { RunWriter } from "./run-writer.ts";
import { Semaphore } from "./semaphore.ts";

/** INBOX commands handled at once by one executor. */
const INBOX_CONCURRENCY = 256;

type CancelCommand = Extract<InboxCommand, { type: "cancel" }>;

interface PendingMatch {
  cmd: WaitMatchCommand;
  resolve(): void;
  reject(e: unknown): void;
}

export interface InboxDeps {
  log: Logger;
  now: () => number;
  publisher: Publisher;
  /** ACTIVE: a new run's due marker. */
  activeRuns: Pick<ActiveStore, "mark">;
  runs: RunStore;
  writer: Pick<RunWriter, "append" | "maxMessageBytes">;
  effects: Pick<RunEffects, "indexRun">;
  timers: Pick<RunTimers, "drop">;
  /** Whether partition `p` takes new work (owned, not being handed over). */
  active(p: number): boolean;
  /**
   * Whether nobody else can hold partition `p`: its lease renewed recently enough, or renewed
   * after a short wait (a renewal late under load); false once it is found lost.
   */
  leaseValid(p: number): Promise<boolean>;
  /** Sets the run going (the run driver's `kick`). */
  kick(actor: Actor): Promise<void>;
}

export class Inbox {
  /**
   * INBOX commands handled at once, over all partitions (each partition's consumer delivers up to
   * 512): a fan-out's thousands of starts otherwise wrote their bookkeeping all at once.
   */
  private readonly slots = new Semaphore(INBOX_CONCURRENCY);
  /** INBOX commands being handled (kept from redelivery while slow). */
  private readonly inProgress = new InProgress();
  /** wait.match commands waiting for their run's next batch (`matchWait`). */
  private readonly pendingMatches = new Map<string, PendingMatch[]>();

  constructor(private readonly deps: InboxDeps) {}

  async onInbox(p: number, m: Delivery): Promise<void> {
    const cmd = this.parse(p, m);
    if (!cmd) return;
    try {
      // While it waits for a slot or is handled, the command is kept from redelivery.
      this.inProgress.hold(m);
      try {
        // A process stopped for longer than its lease (SIGSTOP, a long pause) resumes holding
        // commands it pulled before, for partitions another process may hold by now: handled here,
        // they would be acked and never reach it (its runs found only at its next reconcile pass,
        // tens of seconds later). Under a lapsed lease they go back to the consumer instead.
        const handled =
          (await this.deps.leaseValid(p)) &&
          (await this.slots.run(async () => {
            // Delivered before the partition was given up: its new owner handles it (a command
            // handled here now would act on runs this process no longer drives).
            if (!this.deps.active(p)) return false;
            await this.handle(p, cmd);
            return true;
          }));
        if (!handled) {
          m.nak();
          return;
        }
      } finally {
        this.inProgress.release(m);
      }
      m.ack();
    } catch (e) {
      // A poison command (failing the same way every time) is parked in DEAD_LETTERS after a few
      // deliveries, so it never holds up the partition's commands behind it.
      const done = await settleFailure(
        this.deps.publisher,
        "executor",
        m,
        e,
        this.deps.writer.maxMessageBytes(),
      );
      if ("deadLettered" in done)
        this.deps.log.error(
          { err: e, runId: cmd.runId },
          "inbox command keeps failing; stored in DEAD_LETTERS",
        );
      else
        this.deps.log.error(
          { err: e, runId: cmd.runId, ...done },
          "inbox command failed; will be redelivered",
        );
    }
  }

  handle(p: number, cmd: InboxCommand): Promise<void> {
    switch (cmd.type) {
      case "start":
        // A new run is not read back from its (empty) log. Its first append expects the log to
        // be empty: when the run existed after all (a start delivered again), that append
        // conflicts and the start goes on with the run as its log has it.
        return this.deps.runs
          .withActor(cmd.runId, (actor) => this.startRun(p, cmd, actor), { assumeNew: true })
          .catch((e) => {
            if (!(e instanceof AppendConflictError)) throw e;
            return this.deps.runs.withActor(cmd.runId, (actor) => this.startRun(p, cmd, actor));
          });
      case "cancel":
        return this.deps.runs.withActor(cmd.runId, (actor) => this.cancel(actor, cmd.reason));
      case "wait.match":
        return this.matchWait(cmd);
      default: {
        const _exhaustive: never = cmd;
        return _exhaustive;
      }
    }
  }

  private parse(p: number, m: Delivery): InboxCommand | undefined {
    try {
      const parsed = InboxCommandSchema.safeParse(m.json());
      if (!parsed.success) throw new Error(parsed.error.message);
      return parsed.data;
    } catch (e) {
      this.deps.log.error({ err: e, partition: p, seq: m.seq }, "dropping malformed inbox command");
      m.term();
      return undefined;
    }
  }

  /** Creates the run (`run.scheduled`) unless its log already has it, and sets it going. */
  private async startRun(p: number, cmd: StartRunCommand, actor: Actor): Promise<void> {
    let indexed: Promise<void> | undefined;
    if (statusOf(actor.snapshot) === "empty") {
      const active: ActiveRun = { fnId: cmd.fnId, createdAt: this.deps.now() };
      // The due marker and the run's first entry are written together. If the marker fails, the
      // start is redelivered and the run's first kick writes it (a rebuilt or unmarked actor has
      // `parked` unset); `parked` says "marked" only once it is.
      const marked = this.deps.activeRuns.mark(Keys.active(p, cmd.runId), active).then(() => {
        actor.parked = false;
      });
      const appended = this.deps.writer.append(actor, startEntries(cmd, p, this.deps.now()));
      const [, ok] = await Promise.all([marked, appended]);
      if (ok) {
        const ctx = actor.snapshot.context;
        this.deps.log.info(
          { runId: cmd.runId, fnId: cmd.fnId, eventId: cmd.event.id, traceId: traceIdOf(ctx) },
          "run scheduled",
        );
        // Not fatal: the run is indexed again when it ends. Written while the run goes on (its
        // first call need not wait for it): index records of a run are published in order on one
        // connection, so this one always lands before the one its end writes.
        indexed = this.deps.effects
          .indexRun(actor)
          .catch((e) => this.deps.log.warn({ err: e, runId: cmd.runId }, "could not index the new run"));
      }
    }
    await this.deps.kick(actor);
    await indexed;
  }

  private async cancel(actor: Actor, reason: CancelCommand["reason"]): Promise<void> {
    if (statusOf(actor.snapshot) !== "running") return; // ended, or already compensating
    const ctx = actor.snapshot.context;
    const steps = ctx.compensateOnCancel ? compensableSteps(ctx) : [];
    const ts = this.deps.now();
    await this.deps.writer.append(actor, [
      steps.length > 0
        ? { type: "compensation.started", ts, reason: "cancelled", cancelReason: reason, steps }
        : { type: "run.cancelled", ts, reason },
    ]);
    this.deps.log.info({ runId: ctx.runId, fnId: ctx.fnId, reason }, "run cancelled");
    await this.deps.kick(actor);
  }

  /**
   * Applies matched waits. Matches for one run that arrive while it is busy are applied together,
   * in one append and one kick: a parent whose 10,000 invoked children finish at once records
   * their results in a few messages, not 10,000.
   */
  private matchWait(cmd: WaitMatchCommand): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiting = this.pendingMatches.get(cmd.runId);
      if (waiting) {
        waiting.push({ cmd, resolve, reject });
        return;
      }
      this.pendingMatches.set(cmd.runId, [{ cmd, resolve, reject }]);
      const batch = () => {
        const taken = this.pendingMatches.get(cmd.runId) ?? [];
        this.pendingMatches.delete(cmd.runId);
        return taken;
      };
      let taken: PendingMatch[] = [];
      this.deps.runs
        .withActor(cmd.runId, async (actor) => {
          taken = batch();
          await this.applyMatches(actor, taken);
        })
        .then(
          () => {
            for (const t of taken) t.resolve();
          },
          (e) => {
            // Not applied: every command of the batch is delivered again.
            for (const t of taken.length > 0 ? taken : batch()) t.reject(e);
          },
        );
    });
  }

  private async applyMatches(actor: Actor, taken: readonly PendingMatch[]): Promise<void> {
    if (statusOf(actor.snapshot) !== "running") return;
    const steps = actor.snapshot.context.steps;
    const entries: NewRunLogEntry[] = [];
    const timers: string[] = [];
    const seen = new Set<string>();
    for (const { cmd: m } of taken) {
      const step = steps[m.waitId];
      // First match wins; a wait already resolved (or timed out) ignores the rest.
      if (step?.status !== "waiting" || seen.has(m.waitId)) continue;
      seen.add(m.waitId);
      entries.push({ type: "wait.matched", ts: this.deps.now(), stepId: m.waitId, event: m.event });
      if (step.timerId) timers.push(step.timerId);
    }
    if (entries.length === 0) return;
    await this.deps.writer.append(actor, entries);
    await Promise.all(timers.map((t) => this.deps.timers.drop(actor.runId, t)));
    await this.deps.kick(actor);
  }
}

/**
 * A start command's first entries: `run.scheduled` with the command's run spec, then, for a rerun
 * from a step, the earlier steps' results already recorded.
 */
export function startEntries(cmd: StartRunCommand, p: number, now: number): NewRunLogEntry[] {
  // A start command from a matcher before run specs carries the registered durations: in today's
  // form, its entry needs no upgrade when read (and a bad duration fails the command, not the run).
  const timeouts = runTimeouts(cmd.timeouts, cmd.event.ts, now);
  const scheduled: NewRunLogEntry = {
    type: "run.scheduled",
    ts: now,
    ...runSpecOf(cmd),
    ...(timeouts ? { timeouts } : {}),
    partition: p,
  };
  const seeded = (cmd.seed ?? []).map(
    (step): NewRunLogEntry => ({
      type: "step.completed",
      ts: now,
      stepId: step.stepId,
      name: step.name,
      data: step.data ?? null,
      attempt: 0,
      startedAt: now,
      ...(step.raw ? { raw: true } : {}),
    }),
  );
  return [scheduled, ...seeded];
}
