/**
 * A NATS worker's checkpoints go straight to the run's executor: a 200 lets the call run its next
 * step only if it came back while the executor's lease was valid (`validForMs`).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Subjects } from "@jetstep/core/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import { natsCheckpointer } from "./checkpoint.ts";

/** A connection whose executor answers `reply` after `delayMs`. */
function connection(reply: unknown, delayMs: number, subjects: string[]): () => NatsConnection {
  const nc = {
    request: async (subject: string) => {
      subjects.push(subject);
      await new Promise((r) => setTimeout(r, delayMs));
      return { json: () => reply };
    },
  } as unknown as NatsConnection;
  return () => nc;
}

const input = {
  runId: "01JWORKERRUN00000000000001",
  fnId: "app-fn",
  dispatchId: "5-0123456789abcdef",
  steps: [{ id: "s1", op: "StepRun" as const, data: 1, timing: { a: 1, b: 1 } }],
};

describe("natsCheckpointer", () => {
  it("reports to the executor of the dispatch's partition; a 200 in time is recorded", async () => {
    const subjects: string[] = [];
    const send = natsCheckpointer(connection({ status: 200, validForMs: 60_000 }, 0, subjects));
    assert.equal(await send(input), "recorded");
    assert.deepEqual(subjects, [Subjects.checkpoint(5)]);
  });

  it("takes a 200 that came back after the executor's lease ran out as stale: the call stops", async () => {
    const subjects: string[] = [];
    const send = natsCheckpointer(connection({ status: 200, validForMs: 5 }, 30, subjects));
    assert.equal(await send(input), "stale");
    assert.equal(subjects.length, 1, "not sent again: the step is recorded");
  });
});
