import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidTokenError, ReplayError } from "@jetstep/core";
import { afterFailure, deadLetterJson, isPoison, POISON_DELIVERIES, settleFailure } from "./dead-letters.ts";
import type { Delivery } from "./delivery.ts";
import type { Publisher } from "./publisher.ts";

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

describe("afterFailure", () => {
  const overflow = (() => {
    try {
      const f = (): number => f() + 1;
      f();
    } catch (e) {
      return e;
    }
  })();

  it("dead-letters a message failing as poison once it was delivered POISON_DELIVERIES times", () => {
    assert.ok(isPoison(overflow), "a stack overflow");
    assert.ok(isPoison(new Error("wrapped", { cause: new SyntaxError("Unexpected token") })));
    assert.ok(
      isPoison(new ReplayError(3, "entry 3 does not follow entry 1")),
      "a log that cannot be replayed",
    );
    assert.ok(isPoison(new InvalidTokenError("runId", "a.b")));
    assert.deepEqual(afterFailure(overflow, 1), { retryInMs: 1000 });
    assert.deepEqual(afterFailure(overflow, POISON_DELIVERIES), { deadLetter: true });
  });

  it("keeps retrying what may pass later, backing off to 30 s", () => {
    const timeout = Object.assign(new Error("no ack within 10000 ms"), { name: "PublishTimeoutError" });
    assert.equal(isPoison(timeout), false);
    assert.deepEqual(afterFailure(timeout, 2), { retryInMs: 2000 });
    assert.deepEqual(afterFailure(timeout, 100), { retryInMs: 30_000 });
  });
});

describe("settleFailure", () => {
  it("naks only once the connection is back: a nak sent while disconnected is lost", async () => {
    let reconnect = () => {};
    const back = new Promise<void>((r) => {
      reconnect = r;
    });
    const publisher = { whenConnected: () => back } as unknown as Publisher;
    const naks: (number | undefined)[] = [];
    const m = {
      subject: "inbox.3",
      seq: 7,
      data: new Uint8Array(),
      info: { stream: "INBOX", deliveryCount: 1 },
      nak: (ms?: number) => void naks.push(ms),
    } as unknown as Delivery;
    const lost = Object.assign(new Error("the connection was lost"), { name: "PublishTimeoutError" });
    const settled = settleFailure(publisher, "executor", m, lost, 1000);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(naks, [], "not while disconnected");
    reconnect();
    assert.deepEqual(await settled, { retryInMs: 1000 });
    assert.deepEqual(naks, [1000]);
  });
});
