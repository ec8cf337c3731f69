/**
 * Property: the live path and replay agree. The executor applies the entries it appends one by one
 * to the snapshot it holds (`applyEntry`); after a crash or a takeover the run is rebuilt from the
 * stored log (`replay`, schema-parsed JSON) or from a saved snapshot plus the log's tail
 * (`restore`). For random runs driven the way the executor drives them (app answers of every kind,
 * timers, matched waits, cancellations, compensation), all three must give the same state and so
 * decide the same next work.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type AppAnswer,
  compensableSteps,
  decideAnswer,
  memoOf,
  nextWork,
  RUN_COMPLETE_OP_ID,
  stackOf,
} from "./decide.ts";
import { applyEntry, initialRun, persist, type RunSnapshot, replay, restore, statusOf } from "./replay.ts";
import { inBatch } from "./run-machine.ts";
import { InternalEvents } from "./schemas/event.ts";
import type { NewRunLogEntry, RunLogEntry } from "./schemas/log.ts";
import { type Op, OpCodes } from "./schemas/ops.ts";

const event = { id: "evt1", name: "shop/order", data: { id: 1 }, ts: 1_000 };

/** Picks from the fast-check-generated choices, so a failing run shrinks to a short one. */
class Choices {
  private i = 0;
  constructor(private readonly values: readonly number[]) {}
  get done(): boolean {
    return this.i >= this.values.length;
  }
  pick(n: number): number {
    return (this.values[this.i++] ?? 0) % n;
  }
}

/** The app's answer to a call, chosen at random among the shapes apps send. */
function answerFor(
  choices: Choices,
  stepId: string | null,
  compensate: boolean,
  fresh: () => string,
): AppAnswer {
  const error = { name: "Error", message: "boom" };
  if (compensate || stepId !== null) {
    // A step called by id (planned, or a compensation): it ran, errored, or failed for good.
    const id = stepId as string;
    switch (choices.pick(5)) {
      case 0:
        return { kind: "ops", ops: [{ id, op: OpCodes.stepError, error }] };
      case 1:
        return { kind: "ops", ops: [{ id, op: OpCodes.stepFailed, error }] };
      case 2:
        return { kind: "transport", message: "connection reset" };
      default:
        return { kind: "ops", ops: [{ id, op: OpCodes.stepRun, data: { v: choices.pick(100) } }] };
    }
  }
  const op = (kind: number): Op => {
    const id = fresh();
    switch (kind) {
      case 0:
        return { id, op: OpCodes.sleep, name: "1s" };
      case 1:
        return {
          id,
          op: OpCodes.waitForEvent,
          name: "shop/paid",
          opts: { timeout: "1h", if: "async.data.id == 1" },
        };
      case 2:
        return {
          id,
          op: OpCodes.invokeFunction,
          opts: { function_id: "app-other", payload: { data: { x: 1 } } },
        };
      default:
        return { id, op: OpCodes.stepPlanned, name: id };
    }
  };
  // defer() ops ride along (ids from a small set, so resends and aborts of known ones happen).
  const lazy = (): Op[] =>
    Array.from({ length: choices.pick(3) }, (): Op => {
      const target = `defer-${choices.pick(3)}`;
      return choices.pick(3) === 0
        ? { id: `${target}-abort`, op: OpCodes.deferAbort, opts: { target_hashed_id: target } }
        : { id: target, op: OpCodes.deferAdd, opts: { fn_slug: "app-later", input: { n: choices.pick(9) } } };
    });
  const answer = discoveryAnswer(choices, op, fresh, error);
  if (answer.kind !== "ops") return answer;
  return { ...answer, ops: [...lazy(), ...answer.ops] };
}

function discoveryAnswer(
  choices: Choices,
  op: (kind: number) => Op,
  fresh: () => string,
  error: { name: string; message: string },
): AppAnswer {
  switch (choices.pick(11)) {
    case 0:
      return { kind: "result", data: { total: choices.pick(100) } };
    case 10:
      return {
        kind: "ops",
        ops: [{ id: RUN_COMPLETE_OP_ID, op: OpCodes.runComplete, data: choices.pick(5) }],
      };
    case 1:
      return { kind: "error", error, noRetry: choices.pick(2) === 0 };
    case 2:
      return { kind: "transport", message: "timeout" };
    case 3:
      return { kind: "ops", ops: [op(choices.pick(3))] };
    case 4:
      // Parallel: several planned steps (and maybe a sleep) found at once.
      return { kind: "ops", ops: [op(3), op(3), ...(choices.pick(2) ? [op(0)] : [])] };
    case 5: {
      const id = fresh();
      return { kind: "ops", ops: [{ id, op: OpCodes.stepError, error }] };
    }
    default: {
      const id = fresh();
      const compensable = choices.pick(3) === 0;
      return {
        kind: "ops",
        ops: [
          {
            id,
            op: OpCodes.stepRun,
            data: choices.pick(1000),
            ...(compensable ? { opts: { compensable: true } } : {}),
          },
        ],
      };
    }
  }
}

/** Drives a run as the executor does; returns the stored log (JSON) and the live snapshots after each message. */
function simulate(values: readonly number[]): { log: unknown[][]; live: RunSnapshot[] } {
  const choices = new Choices(values);
  let now = 1_000;
  let nextId = 0;
  const fresh = () => `step-${++nextId}`;
  const scheduled: RunLogEntry = {
    n: 1,
    ts: now,
    type: "run.scheduled",
    runId: "RUN1",
    fnId: "app-fn",
    appId: "app",
    url: "http://app/api",
    maxAttempts: 1 + ((values[0] ?? 0) % 4),
    partition: 3,
    event,
    events: [event],
    ...((values[1] ?? 0) % 2 ? { cancelOn: [{ event: "shop/cancelled" }] } : {}),
  };
  let snapshot = applyEntry(initialRun(), scheduled);
  const log: unknown[][] = [[JSON.parse(JSON.stringify(scheduled))]];
  const live: RunSnapshot[] = [snapshot];
  // The executor's append: number, apply (dropping what the state rejects), store as one message.
  // One batch per message, as the executor applies them (core `inBatch`): earlier snapshots in
  // `live` must stay as they were (the snapshot + tail property reads them later).
  const append = (entries: NewRunLogEntry[]) => {
    const stored: RunLogEntry[] = [];
    snapshot = inBatch(() => {
      let s = snapshot;
      for (const e of entries) {
        const entry = { ...e, n: s.context.lastN + 1 } as RunLogEntry;
        try {
          s = applyEntry(s, entry);
          stored.push(entry);
        } catch {
          // dropped, as the executor drops it
        }
      }
      return s;
    });
    if (stored.length === 0) return;
    log.push(JSON.parse(JSON.stringify(stored)));
    live.push(snapshot);
  };
  while (!choices.done) {
    const status = statusOf(snapshot);
    if (status !== "running" && status !== "compensating") break;
    now += 1 + choices.pick(5_000);
    const work = nextWork(snapshot);
    const ctx = snapshot.context;
    const waiting = Object.values(ctx.steps).filter((s) => s.status === "waiting");
    switch (choices.pick(8)) {
      case 0: {
        const timer = work.timers[choices.pick(Math.max(1, work.timers.length))];
        if (timer) append([{ type: "timer.fired", ts: now, timerId: timer.timerId }]);
        break;
      }
      case 1: {
        const wait = waiting[choices.pick(Math.max(1, waiting.length))];
        if (!wait) break;
        const matched = wait.wait?.invoke
          ? {
              id: `fin-${now}`,
              name: InternalEvents.functionFinished,
              data: choices.pick(2)
                ? { result: { ok: true } }
                : { error: { name: "Error", message: "child failed" } },
              ts: now,
            }
          : { id: `paid-${now}`, name: "shop/paid", data: { id: 1 }, ts: now };
        append([{ type: "wait.matched", ts: now, stepId: wait.stepId, event: matched }]);
        break;
      }
      case 2: {
        if (choices.pick(4) !== 0 || status !== "running") break;
        const steps = ctx.compensateOnCancel || choices.pick(2) ? compensableSteps(ctx) : [];
        append([
          steps.length > 0
            ? { type: "compensation.started", ts: now, reason: "cancelled", cancelReason: "user", steps }
            : { type: "run.cancelled", ts: now, reason: "user" },
        ]);
        break;
      }
      default: {
        const call = work.calls[choices.pick(Math.max(1, work.calls.length))];
        if (!call) break;
        const answer = answerFor(choices, call.stepId, call.compensate === true, fresh);
        append(
          decideAnswer(ctx, call, answer, {
            now,
            random: () => (choices.pick(1000) + 0.5) / 1000,
            eventsLastSeq: 40,
          }),
        );
      }
    }
  }
  return { log, live };
}

/** What the executor reads from a snapshot, in stored (JSON) form. */
function observed(s: RunSnapshot) {
  return {
    state: JSON.parse(JSON.stringify(persist(s))),
    work: nextWork(s),
    memo: memoOf(s.context),
    stack: stackOf(s.context),
  };
}

/** Choices for one run: long enough to reach compensation and retries, shrinkable to a few. */
const runChoices = fc.array(fc.nat(), { minLength: 2, maxLength: 400, size: "large" });

describe("live path and replay agree", () => {
  it("for random runs: replaying the whole stored log gives the live state", () => {
    fc.assert(
      fc.property(runChoices, (values) => {
        const { log, live } = simulate(values);
        const last = live[live.length - 1] as RunSnapshot;
        assert.deepStrictEqual(observed(replay(log.flat())), observed(last));
      }),
      { numRuns: 300 },
    );
  });

  it("for random runs: a saved snapshot plus the log's tail gives the live state", () => {
    fc.assert(
      fc.property(runChoices, fc.nat(), (values, cut) => {
        const { log, live } = simulate(values);
        const at = cut % live.length;
        // A snapshot is stored as JSON in the SNAPSHOTS bucket.
        const saved = restore(JSON.parse(JSON.stringify(persist(live[at] as RunSnapshot))));
        const rebuilt = replay(log.slice(at + 1).flat(), saved);
        assert.deepStrictEqual(observed(rebuilt), observed(live[live.length - 1] as RunSnapshot));
      }),
      { numRuns: 300 },
    );
  });

  it("the runs it drives reach every kind of entry", () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(runChoices, (values) => {
        for (const message of simulate(values).log)
          for (const e of message) seen.add((e as { type: string }).type);
      }),
      { numRuns: 300, seed: 7 },
    );
    for (const type of [
      "run.scheduled",
      "steps.planned",
      "step.completed",
      "step.errored",
      "step.failed",
      "sleep.started",
      "wait.started",
      "wait.matched",
      "timer.fired",
      "run.completed",
      "run.failed",
      "run.cancelled",
      "compensation.started",
      "compensation.completed",
      "compensation.errored",
      "compensation.failed",
    ])
      assert.ok(seen.has(type), `no random run produced "${type}" (${[...seen].join(", ")})`);
  });
});
