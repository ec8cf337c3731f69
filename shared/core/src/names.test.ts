import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration } from "./duration.ts";
import { deterministicUlid, runIdFor } from "./ids.ts";
import { escapeToken, Subjects, unescapeToken, WorkerUrls } from "./names.ts";

describe("subjects", () => {
  it("escapes event names into one safe token, reversibly", () => {
    for (const name of ["user/signup", "a.b c", "x*>", "~tilde", "a=b", "日本", ""]) {
      const token = escapeToken(name);
      assert.match(token, /^[A-Za-z0-9_=-]+$/);
      assert.equal(unescapeToken(token), name);
    }
    assert.equal(Subjects.event("a.b"), "evt.a=2eb");
  });
  it("gives each worker app one call subject, and reads app ids back from worker URLs", () => {
    assert.equal(Subjects.workerCall("billing"), "jetstep.call.billing");
    assert.equal(Subjects.workerCall("shop.billing"), "jetstep.call.shop=2ebilling");
    assert.equal(Subjects.workerCall("a*>"), "jetstep.call.a=2a=3e");
    for (const appId of ["billing", "shop.billing", "A_b-1"]) {
      const url = new URL(WorkerUrls.app(appId));
      url.searchParams.set("fnId", `${appId}-f`);
      assert.equal(WorkerUrls.appIdOf(url), appId);
    }
    assert.equal(WorkerUrls.appIdOf(new URL("http://billing/api")), undefined);
  });
  it("rejects unsafe run ids", () => {
    assert.throws(() => Subjects.run("a.b"), /invalid runId/);
    assert.throws(() => Subjects.run("*"), /invalid runId/);
  });
});

describe("durations", () => {
  const table: [string | number, number][] = [
    ["30s", 30_000],
    ["2h45m", 9_900_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["250ms", 250],
    [1500, 1500],
    ["1500", 1500],
  ];
  for (const [input, ms] of table) it(`${input} → ${ms}`, () => assert.equal(parseDuration(input), ms));
  for (const bad of ["", "abc", "5x", "-1s", -5, Number.NaN, "1h 2"]) {
    it(`rejects ${String(bad)}`, () => assert.throws(() => parseDuration(bad), /invalid duration/));
  }
});

describe("ids", () => {
  it("derives the same run id for the same event and function, a different one otherwise", () => {
    assert.equal(runIdFor("e1", "f1", 1000), runIdFor("e1", "f1", 1000));
    assert.notEqual(runIdFor("e1", "f1", 1000), runIdFor("e1", "f2", 1000));
    assert.match(deterministicUlid(Date.UTC(2026, 0, 1), "x"), /^[0-9A-HJKMNP-TV-Z]{26}$/);
  });
});
