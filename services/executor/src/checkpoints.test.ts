/**
 * Checkpoints of a call in flight, answered by the partition's owner, with a fake driver: what a
 * 200 says (and when it is not given), over NATS and in this process.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyEntries,
  type CheckpointReply,
  type CheckpointRequest,
  initialRun,
  type NewRunLogEntry,
  type RunLogEntry,
} from "@jetstep/core";
import type { BusMessage, Nats } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { type CheckpointDriver, Checkpoints } from "./checkpoints.ts";
import type { Actor } from "./run-store.ts";

const RUN = "01JCHECKPOINTS000000000001";
const DISPATCH = "3-0123456789abcdef";
const P = 3;
const step = { id: "a".repeat(40), op: "StepRun", name: "s1", data: 1 };

function actor(): Actor {
  const scheduled = {
    type: "run.scheduled",
    ts: 1_000,
    runId: RUN,
    fnId: "app-fn",
    appId: "app",
    url: "http://127.0.0.1:3000/api/inngest",
    maxAttempts: 1,
    partition: P,
    event: { id: "e1", name: "x/y", data: {}, ts: 1_000 },
    events: [{ id: "e1", name: "x/y", data: {}, ts: 1_000 }],
    n: 1,
  } as RunLogEntry;
  return {
    runId: RUN,
    snapshot: applyEntries(initialRun(), [scheduled]).after,
    lastSeq: 1,
    sinceSnapshot: 1,
  };
}

interface Lease {
  validForMs: number;
  /** What the lease is valid for once the step is recorded (a pause between recording and replying). */
  afterRecord?: number;
}

function setup(lease: Lease) {
  const recorded: NewRunLogEntry[][] = [];
  const run = actor();
  const driver: CheckpointDriver = {
    now: () => 2_000,
    owns: (p) => p === P,
    valid: (p) => p === P && lease.validForMs > 0,
    validForMs: (p) => (p === P ? lease.validForMs : 0),
    withActor: (_runId, fn) => fn(run),
    start: async () => undefined,
    eventsLastSeq: async () => undefined,
    decideOptions: () => ({}) as ReturnType<CheckpointDriver["decideOptions"]>,
    record: async (_actor, entries) => {
      recorded.push(entries);
      if (lease.afterRecord !== undefined) lease.validForMs = lease.afterRecord;
    },
    kick: async () => undefined,
    dispatchOf: () => DISPATCH,
    endDispatch: () => true,
    kickLater: () => undefined,
  };
  let deliver: ((m: BusMessage) => void) | undefined;
  const nats = {
    nc: {
      subscribe: (_subject: string, opts: { callback: (err: unknown, m: BusMessage) => void }) => {
        deliver = (m) => opts.callback(null, m);
        return { unsubscribe: () => undefined };
      },
    },
  } as unknown as Nats;
  const checkpoints = new Checkpoints(nats, silentLogger(), driver);
  checkpoints.take(P);
  /** A checkpoint over NATS: resolves with the reply the owner sent. */
  const overNats = (req: CheckpointRequest) =>
    new Promise<CheckpointReply>((resolve) =>
      deliver?.({
        json: () => req,
        respond: (data: string) => {
          resolve(JSON.parse(data));
          return true;
        },
      } as unknown as BusMessage),
    );
  return { checkpoints, recorded, overNats };
}

const request: CheckpointRequest = { runId: RUN, dispatchId: DISPATCH, steps: [step] };

describe("Checkpoints (a call in flight reports its steps)", () => {
  it("records the step and answers 200 with how long the lease stays valid, over NATS and in this process", async () => {
    const nats = setup({ validForMs: 1_500 });
    assert.deepEqual(await nats.overNats(request), { status: 200, validForMs: 1_500 });
    assert.equal(nats.recorded.length, 1);
    assert.equal(nats.recorded[0]?.[0]?.type, "step.completed");
    const local = setup({ validForMs: 900 });
    assert.deepEqual(await local.checkpoints.here(P, request), { status: 200, validForMs: 900 });
    assert.equal(local.checkpoints.here(P + 1, request), undefined, "a partition not held here");
  });

  it("answers 409 once the lease lapsed while the step was recorded: the step stays recorded, the app stops", async () => {
    const { overNats, recorded } = setup({ validForMs: 1_500, afterRecord: 0 });
    const reply = await overNats(request);
    assert.equal(reply.status, 409);
    assert.match(reply.message ?? "", /lease of partition 3 lapsed; the step is recorded/);
    assert.equal(reply.validForMs, undefined);
    assert.equal(recorded.length, 1);
  });

  it("records nothing while the lease is not valid (503: the app retries)", async () => {
    const { overNats, recorded } = setup({ validForMs: 0 });
    const reply = await overNats(request);
    assert.equal(reply.status, 503);
    assert.equal(recorded.length, 0);
  });

  it("answers 409 without a lease time to a dispatch that is not the run's call in flight", async () => {
    const { overNats, recorded } = setup({ validForMs: 1_500 });
    const reply = await overNats({ ...request, dispatchId: "3-fedcba9876543210" });
    assert.equal(reply.status, 409);
    assert.match(reply.message ?? "", /stale dispatch/);
    assert.equal(recorded.length, 0);
  });
});
