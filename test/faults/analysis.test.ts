import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { analyse, parseExecLog, type RunLogView } from "./analysis.ts";

/** A run scheduled at `scheduledAt` whose steps were recorded at the given times (all messages). */
function runLog(scheduledAt: number, records: Record<string, number[]>, endedAt?: number): RunLogView {
  const times = [scheduledAt, ...Object.values(records).flat(), ...(endedAt === undefined ? [] : [endedAt])];
  return {
    scheduledAt,
    endedAt,
    times: times.sort((a, b) => a - b),
    records: new Map(Object.entries(records)),
  };
}

const starts = (text: string) => parseExecLog(text);
const noFault = { faultAt: 1_000, restartAt: 1_000 };

describe("fault analysis", () => {
  it("counts a body started after its record, and extra starts before it apart", () => {
    const logs = new Map([["r1", runLog(10, { s1: [100], s2: [200] })]]);
    const f = analyse(logs, starts("r1 s1 80\nr1 s1 90\nr1 s2 150\nr1 s2 250\n"), noFault);
    assert.deepEqual(f.reExecuted, [{ runId: "r1", step: "s1", startedAt: [80, 90], recordedAt: 100 }]);
    assert.deepEqual(f.startedAfterRecorded, [
      { runId: "r1", step: "s2", recordedAt: 200, startedAt: [250] },
    ]);
  });

  it("takes a start in the record's millisecond as before it", () => {
    const logs = new Map([["r1", runLog(10, { s1: [100] })]]);
    const f = analyse(logs, starts("r1 s1 100\n"), noFault);
    assert.deepEqual(f.startedAfterRecorded, []);
    assert.deepEqual(f.reExecuted, []);
  });

  it("counts repeated starts of a step never recorded, and steps recorded twice", () => {
    const logs = new Map([["r1", runLog(10, { s1: [100, 300] })]]);
    const f = analyse(logs, starts("r1 s1 90\nr1 s2 120\nr1 s2 130\n"), noFault);
    assert.deepEqual(f.reExecuted, [
      { runId: "r1", step: "s2", startedAt: [120, 130], recordedAt: undefined },
    ]);
    assert.deepEqual(f.recordedTwice, [{ runId: "r1", step: "s1", times: 2 }]);
  });

  it("ignores starts of runs it was not given, and lines cut short", () => {
    const parsed = parseExecLog("r1 s1 5\nr2 s1 7\nr1 s2\nr1 s3 12x\nr1 s1 6 extra\n");
    assert.deepEqual([...parsed.keys()], ["r1", "r2"]);
    assert.deepEqual([...(parsed.get("r1") ?? [])], [["s1", [5]]]);
    const f = analyse(new Map([["r1", runLog(1, { s1: [4] })]]), parsed, noFault);
    assert.deepEqual(f.startedAfterRecorded, [{ runId: "r1", step: "s1", recordedAt: 4, startedAt: [5] }]);
  });

  it("times recovery from the restart, the stall of runs in flight and the last end from the fault", () => {
    const fault = { faultAt: 1_000, restartAt: 1_500 };
    const logs = new Map([
      ["done-before", runLog(100, { s1: [200] }, 300)], // ended before the fault: no stall
      ["in-flight", runLog(500, { s1: [900], s2: [4_000], s3: [4_500] }, 4_600)],
      ["later", runLog(2_000, { s1: [2_100] }, 2_200)], // scheduled after the fault
    ]);
    const f = analyse(logs, new Map(), fault);
    assert.equal(f.recoveryMs, 600); // "later" s1 at 2,100
    assert.equal(f.stallMs, 3_000); // "in-flight" waited from 1,000 to 4,000
    assert.equal(f.lastEndMs, 3_600);
  });
});
