import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FunctionRollup } from "@jetstep/core";
import type { RollupLog } from "@jetstep/jetstream";
import { noMetrics, type RunMetrics, silentLogger } from "@jetstep/telemetry";
import { Rollups } from "./rollups.ts";

function setup() {
  const appended: FunctionRollup[] = [];
  let failing = false;
  const store = {
    append: async (r: FunctionRollup) => {
      if (failing) throw new Error("NATS away");
      appended.push(r);
    },
  } as unknown as RollupLog;
  const rollups = new Rollups({
    log: silentLogger(),
    now: () => Date.UTC(2026, 11, 2, 10, 0, 30),
    source: "exec-1",
    store,
    flushMs: 60_000,
  });
  return { rollups, appended, fail: (on: boolean) => (failing = on) };
}

describe("executor rollups", () => {
  it("counts what goes through the metrics it wraps, and the inner metrics still see all of it", async () => {
    const { rollups, appended } = setup();
    const seen: string[] = [];
    // A class, as the real metrics are: its methods live on the prototype.
    class Recording implements RunMetrics {
      runStarted = (fn: string) => void seen.push(`started ${fn}`);
      runEnded(fn: string, _app: string, status: string) {
        seen.push(`${status} ${fn}`);
      }
      stepAttempt(fn: string, _app: string, outcome: string) {
        seen.push(`${outcome} ${fn}`);
      }
      appCallError(fn: string, _app: string, errorClass: string) {
        seen.push(`${errorClass} ${fn}`);
      }
      eventsReceived(source: string, count: number) {
        seen.push(`${count} from ${source}`);
      }
      timerFired(latenessMs: number) {
        seen.push(`timer ${latenessMs}`);
      }
      addGauges() {
        seen.push("gauges");
        return () => undefined;
      }
    }
    const metrics = rollups.counting(new Recording());
    metrics.runStarted("fn", "app");
    metrics.stepAttempt("fn", "app", "errored", 5);
    metrics.stepAttempt("fn", "app", "completed", 5);
    metrics.runEnded("fn", "app", "completed", 900);
    metrics.appCallError("fn", "app", "timeout");
    metrics.eventsReceived("http", 2);
    metrics.timerFired(7);
    metrics.addGauges(() => []);
    assert.deepEqual(seen, [
      "started fn",
      "errored fn",
      "completed fn",
      "completed fn",
      "timeout fn",
      "2 from http",
      "timer 7",
      "gauges",
    ]);
    await rollups.flush(new Map([["queued-fn", ["app", 2] as const]]));
    const byFn = new Map(appended.map((r) => [r.fnId, r]));
    assert.deepEqual(
      [
        byFn.get("fn")?.started,
        byFn.get("fn")?.stepAttempts,
        byFn.get("fn")?.stepErrors,
        byFn.get("fn")?.completed,
      ],
      [1, 2, 1, 1],
    );
    assert.equal(byFn.get("queued-fn")?.backlog, 2);
    assert.equal(byFn.get("fn")?.source, "exec-1");
  });

  it("keeps records a flush could not append and appends them with the next", async () => {
    const { rollups, appended, fail } = setup();
    const metrics = rollups.counting(noMetrics);
    metrics.runStarted("fn", "app");
    fail(true);
    await rollups.flush(new Map());
    assert.equal(appended.length, 0);
    fail(false);
    metrics.runStarted("fn", "app");
    await rollups.stop(true);
    assert.equal(
      appended.reduce((n, r) => n + r.started, 0),
      2,
      "both starts appended, the first one late",
    );
  });
});
