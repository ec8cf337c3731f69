/**
 * What a new owner reads when it takes a partition over (`readTakenPartition`), against a previous
 * owner that parks a run while the reads go on: the run is always found, due or by its timer.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { StoredTimer } from "@jetstep/jetstream";
import { readTakenPartition, type TakeOverReads } from "./partition-takeover.ts";

const RUN = "01JTAKEOVER000000000000001";
const TIMER: StoredTimer = { runId: RUN, timerId: "sleep-1", partition: 2, fireAt: 5_000, seq: 7 };

/**
 * A partition as ACTIVE and TIMERS hold it, with the run due, and the old owner's next move on it
 * (as `RunDriver.kick` makes it: the timer written, then the marker moved from due to parked) made
 * right after the read numbered `parkAfterRead` (0: before any read) returns.
 */
function partition(parkAfterRead: number) {
  const due = new Set([RUN]);
  const timers: StoredTimer[] = [];
  const park = () => {
    timers.push(TIMER);
    due.delete(RUN);
  };
  let reads = 0;
  const read = <T>(value: T): T => {
    reads++;
    if (reads === parkAfterRead) park();
    return value;
  };
  if (parkAfterRead === 0) park();
  const found = { kicked: [] as string[], timers: [] as StoredTimer[] };
  const steps: TakeOverReads = {
    listDue: async () => read([...due]),
    loadTimers: async () => read([...timers]),
    timersLoaded: (t) => found.timers.push(...t),
    kickLater: (runId) => found.kicked.push(runId),
  };
  return { steps, found };
}

describe("taking a partition over", () => {
  for (const parkAfterRead of [0, 1, 2]) {
    const when = ["before the reads", "between the two reads", "after both reads"][parkAfterRead];
    it(`finds a run the old owner parks ${when}: resumed as due, or its timer loaded`, async () => {
      const { steps, found } = partition(parkAfterRead);
      const read = await readTakenPartition(steps, () => true, { timers: false });
      const resumed = found.kicked.includes(RUN);
      const timed = found.timers.some((t) => t.runId === RUN);
      assert.ok(resumed || timed, `run lost: ${JSON.stringify({ read, found })}`);
      assert.deepEqual(read, { timers: found.timers.length, active: found.kicked.length });
    });
  }

  it("hands the timers on before it resumes the due runs (a resumed run finds its timers armed)", async () => {
    const order: string[] = [];
    await readTakenPartition(
      {
        listDue: async () => [RUN],
        loadTimers: async () => [TIMER],
        timersLoaded: () => order.push("timers"),
        kickLater: () => order.push("kick"),
      },
      () => true,
      { timers: false },
    );
    assert.deepEqual(order, ["timers", "kick"]);
  });

  it("installs nothing once superseded, and loads the timers once over its retries", async () => {
    const { steps, found } = partition(-1);
    let current = false;
    assert.equal(await readTakenPartition(steps, () => current, { timers: false }), undefined);
    assert.deepEqual(found, { kicked: [], timers: [] });

    current = true;
    let loads = 0;
    const failing: TakeOverReads = {
      ...steps,
      loadTimers: async () => {
        loads++;
        throw new Error("TIMERS unavailable");
      },
    };
    const loaded = { timers: false };
    await assert.rejects(
      readTakenPartition(failing, () => current, loaded),
      /TIMERS unavailable/,
    );
    assert.deepEqual(found.kicked, [], "no run resumed before its timers are in");
    const counting: TakeOverReads = {
      ...steps,
      loadTimers: async () => {
        loads++;
        return steps.loadTimers();
      },
    };
    assert.deepEqual(await readTakenPartition(counting, () => current, loaded), { timers: 0, active: 1 });
    assert.deepEqual(await readTakenPartition(counting, () => current, loaded), {
      timers: undefined,
      active: 1,
    });
    assert.equal(loads, 2, "the failed load and the one that worked");
  });
});
