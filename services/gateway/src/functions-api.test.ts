/**
 * `GET /v1/functions/:id/activity` through `app.inject()` on a gateway over a private
 * nats-server: records appended to ROLLUPS as executors append them come back merged into bins.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type FunctionRollup, MINUTE_MS, RollupAccumulator } from "@jetstep/core";
import { Publisher, RollupLog } from "@jetstep/jetstream";
import { registerOneStepFunction, startTestGateway, type TestGateway } from "./test-support.ts";

const FN = "charts-fn";

interface Point {
  t: string;
  started: number;
  completed: number;
  failed: number;
  cancelled: number;
  failure_rate: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  backlog: number;
}

describe("function activity", () => {
  let gw: TestGateway;
  let publisher: Publisher;
  before(async () => {
    gw = await startTestGateway();
    publisher = new Publisher(gw.nats.nc);
    await registerOneStepFunction(gw, "charts", FN, "charts/x");
  });
  after(async () => {
    publisher?.close();
    await gw?.stop();
  });

  it("merges what every executor appended into bins of the range", async () => {
    const minuteNow = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
    const from = minuteNow - 9 * MINUTE_MS;
    const log = new RollupLog(gw.nats, publisher);
    const counted = (source: string, minute: number, count: (acc: RollupAccumulator) => void) => {
      const acc = new RollupAccumulator(source, () => minute);
      count(acc);
      return acc.take(new Map([[FN, ["charts", source === "a" ? 2 : 1] as const]]));
    };
    const records: FunctionRollup[] = [
      ...counted("a", from, (acc) => {
        acc.runStarted(FN, "charts");
        acc.runEnded(FN, "charts", "completed", 80);
      }),
      ...counted("b", from + MINUTE_MS, (acc) => {
        acc.runStarted(FN, "charts");
        acc.runEnded(FN, "charts", "failed", 80);
        acc.runEnded(FN, "charts", "cancelled", 80);
        acc.runStarted("another-fn", "charts");
      }),
      ...counted("a", minuteNow, (acc) => acc.runStarted(FN, "charts")),
    ];
    for (const r of records) await log.append(r);

    const r = await gw.send(
      "GET",
      `/v1/functions/${FN}/activity?from=${from}&to=${minuteNow + MINUTE_MS}&step=5m`,
    );
    assert.equal(r.status, 200, r.body.error);
    const data = r.body.data as { step_ms: number; from: string; points: Point[] };
    assert.equal(data.step_ms, 5 * MINUTE_MS);
    const points = data.points;
    assert.equal(new Date(points[0]?.t as string).getTime() % (5 * MINUTE_MS), 0, "bins start on the step");
    const total = (k: keyof Point) => points.reduce((n, p) => n + Number(p[k] ?? 0), 0);
    assert.deepEqual(
      [total("started"), total("completed"), total("failed"), total("cancelled")],
      [3, 1, 1, 1],
      "another function's records are not counted",
    );
    const ended = points.find((p) => p.failed > 0) as Point;
    assert.ok(ended.p50_ms !== null && ended.p50_ms > 50 && ended.p50_ms <= 100, String(ended.p50_ms));
    assert.ok(ended.failure_rate !== null && ended.failure_rate > 0 && ended.failure_rate < 1);
    assert.ok(points.some((p) => p.backlog >= 2));

    const byMinute = await gw.send(
      "GET",
      `/v1/functions/${FN}/activity?from=${from}&to=${minuteNow + MINUTE_MS}`,
    );
    assert.equal(byMinute.status, 200);
    assert.equal((byMinute.body.data as { points: Point[] }).points.length, 10, "one-minute bins by default");
  });

  it("answers 404 for an unknown function and 400 naming the field of a bad range", async () => {
    const unknown = await gw.send("GET", "/v1/functions/no-such-fn/activity");
    assert.deepEqual([unknown.status, unknown.body.error], [404, "function no-such-fn not found"]);
    const cases: [string, RegExp][] = [
      ["from=yesterday", /^from: /],
      ["from=2000&to=1000", /^from: must be before to$/],
      [`from=0&to=${9 * 24 * 60 * MINUTE_MS}`, /^from: at most 8 days before to/],
      ["step=soon", /^step: must be a duration/],
      ["step=90s", /^step: must be a whole number of minutes$/],
      [`from=0&to=${2 * 24 * 60 * MINUTE_MS}&step=1m`, /^step: 1 min gives more than 1440 bins/],
    ];
    for (const [query, re] of cases) {
      const r = await gw.send("GET", `/v1/functions/${FN}/activity?${query}`);
      assert.equal(r.status, 400, query);
      assert.match(r.body.error ?? "", re, query);
    }
  });
});
