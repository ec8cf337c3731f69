import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deadLetterJson } from "./nats-ingest.ts";

describe("deadLetterJson", () => {
  const fields = {
    reason: "event: nests deeper than 64 levels",
    status: 400,
    subject: "jetstep.events",
    at: "t",
  };
  const bytes = (s: string) => Buffer.byteLength(s);

  it("keeps a payload that fits whole, unmarked", () => {
    assert.deepEqual(JSON.parse(deadLetterJson(fields, "[1]", 1000)), { ...fields, payload: "[1]" });
  });

  it("cuts a payload that does not fit to the longest prefix that does, and says so", () => {
    for (const payload of [
      "x".repeat(5000),
      "\u0000".repeat(5000),
      "日".repeat(5000),
      "a\ud800".repeat(2000),
    ]) {
      const json = deadLetterJson(fields, payload, 2000);
      const letter = JSON.parse(json) as { payload: string; payloadTruncated: boolean; payloadBytes: number };
      assert.ok(bytes(json) <= 2000, `${bytes(json)} bytes`);
      assert.equal(letter.payloadTruncated, true);
      assert.equal(letter.payloadBytes, bytes(payload));
      assert.ok(payload.startsWith(letter.payload));
      const longer = {
        ...fields,
        payload: payload.slice(0, letter.payload.length + 1),
        payloadTruncated: true,
      };
      assert.ok(
        bytes(JSON.stringify({ ...longer, payloadBytes: bytes(payload) })) > 2000,
        "the longest prefix",
      );
    }
  });
});
