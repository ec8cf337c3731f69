import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  derivedSpanId,
  formatTraceparent,
  normalizeTraceparent,
  parseTraceparent,
  runSpanTraceparent,
  runTrace,
} from "./trace.ts";

const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("traceparent", () => {
  it("parses and formats the W3C example", () => {
    const p = parseTraceparent(valid);
    assert.deepEqual(p, {
      traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
      spanId: "00f067aa0ba902b7",
      flags: 1,
    });
    assert.equal(formatTraceparent(p as NonNullable<typeof p>), valid);
  });

  it("rejects malformed values, all-zero ids and version ff", () => {
    for (const bad of [
      "",
      "garbage",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      `${valid}-extra`,
    ])
      assert.equal(parseTraceparent(bad), undefined, bad);
  });

  it("accepts a future version with extra fields, normalized to version 00", () => {
    assert.equal(normalizeTraceparent(`01-${valid.slice(3)}-what-ever`), valid);
    assert.equal(normalizeTraceparent(valid.toUpperCase()), valid);
  });
});

describe("runTrace", () => {
  it("derives stable ids from the run id when nothing triggered it with a trace", () => {
    const a = runTrace("run-1");
    assert.deepEqual(runTrace("run-1"), a);
    assert.match(a.traceId, /^[0-9a-f]{32}$/);
    assert.match(a.runSpanId, /^[0-9a-f]{16}$/);
    assert.equal(a.parentSpanId, undefined);
    assert.notEqual(runTrace("run-2").traceId, a.traceId);
    assert.notEqual(runTrace("run-2").runSpanId, a.runSpanId);
  });

  it("joins the sender's trace as a child of its span, keeping its sampling decision", () => {
    const t = runTrace("run-1", valid);
    assert.equal(t.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(t.parentSpanId, "00f067aa0ba902b7");
    assert.equal(t.sampled, true);
    assert.equal(t.runSpanId, derivedSpanId("run:run-1"));
    assert.equal(runTrace("run-1", valid.replace(/01$/, "00")).sampled, false);
    assert.equal(runSpanTraceparent(t), `00-${t.traceId}-${t.runSpanId}-01`);
  });
});
