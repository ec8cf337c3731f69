import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IncomingEventMetaSchema, storedEventMeta } from "./sessions.ts";

const merge = (meta: unknown) => storedEventMeta(IncomingEventMetaSchema.parse(meta));

describe("event sessions", () => {
  it("stores the propagated layer under the manual one, which wins per key; ids become strings", () => {
    assert.deepEqual(merge({ propagated_sessions: { user: "u1", tenant: 7 }, sessions: { user: "u2" } }), {
      sessions: { user: "u2", tenant: "7" },
    });
  });
  it("removes an inherited key for a null id, and every inherited one for sessions: null", () => {
    assert.deepEqual(
      merge({ propagated_sessions: { user: "u1", tenant: "t" }, sessions: { tenant: null } }),
      {
        sessions: { user: "u1" },
      },
    );
    assert.equal(merge({ propagated_sessions: { user: "u1" }, sessions: null }), undefined);
    assert.equal(merge({}), undefined);
    assert.equal(storedEventMeta(undefined), undefined);
  });
  it("refuses more than five sessions once merged (tombstones do not count), and bad ids", () => {
    const six = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, `v${i}`]));
    assert.throws(() => merge({ sessions: six }), /has 6 sessions once merged; at most 5/);
    assert.deepEqual(Object.keys(merge({ sessions: { ...six, k5: null } })?.sessions ?? {}).length, 5);
    assert.equal(IncomingEventMetaSchema.safeParse({ sessions: { k: "" } }).success, false);
    assert.equal(IncomingEventMetaSchema.safeParse({ sessions: { k: {} } }).success, false);
    assert.equal(IncomingEventMetaSchema.safeParse({ propagated_sessions: { k: null } }).success, false);
    assert.equal(IncomingEventMetaSchema.safeParse({ sessions: [1] }).success, false);
  });
});
