/**
 * Event ingest (`POST /e/:key`, and `POST /v1/events` for API key holders) through `app.inject()`
 * on a gateway over a private nats-server: what is answered, and what is stored in EVENTS. A
 * request is all or nothing: an event refused in a batch refuses the batch, and none of it is
 * stored.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Headers, MAX_EVENT_BYTES, MaxBodyBytes, Streams, Subjects } from "@jetstep/core";
import { secondGateway, startTestGateway, type TestGateway } from "./test-support.ts";

describe("event ingest", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw?.stop());

  /** Events stored under `name`'s subject. */
  const stored = async (name: string): Promise<number> => {
    const subject = Subjects.event(name);
    const info = await gw.nats.jsm.streams.info(Streams.events, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };
  const lastStored = async (name: string) => {
    const m = await gw.nats.jsm.streams.getMessage(Streams.events, { last_by_subj: Subjects.event(name) });
    assert.ok(m, `no event ${name} stored`);
    return { event: m.json<Record<string, unknown>>(), headers: m.header };
  };

  it("stores one event and answers its new id with 200", async () => {
    const r = await gw.send("POST", "/e/any-key", { name: "ingest/one", data: { a: 1 } });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 200);
    const ids = r.body.ids as string[];
    assert.equal(ids.length, 1);
    assert.match(ids[0] ?? "", /^[0-9A-HJKMNP-TV-Z]{26}$/, "a ULID");
    const { event, headers } = await lastStored("ingest/one");
    assert.equal(event.id, ids[0]);
    assert.deepEqual(event.data, { a: 1 });
    assert.equal(typeof event.ts, "number");
    assert.equal(headers?.get("Nats-Msg-Id"), ids[0], "deduplicated by its id");
  });

  it("stores a batch, answering the ids in order (the sender's own ids kept)", async () => {
    const before = await stored("ingest/batch");
    const r = await gw.send("POST", "/e/any-key", [
      { name: "ingest/batch" },
      { name: "ingest/batch", id: "order-42", data: {}, ts: 1_700_000_000_000 },
      { name: "ingest/batch", user: { id: "u1" } },
    ]);
    assert.equal(r.status, 200);
    const ids = r.body.ids as string[];
    assert.equal(ids.length, 3);
    assert.equal(ids[1], "order-42");
    assert.equal(new Set(ids).size, 3);
    assert.equal(await stored("ingest/batch"), before + 3);
  });

  it("stores an event sent again with the same id once", async () => {
    const event = { name: "ingest/dedupe", id: "same-id-1" };
    assert.deepEqual((await gw.send("POST", "/e/k", event)).body.ids, ["same-id-1"]);
    assert.deepEqual((await gw.send("POST", "/e/k", event)).body.ids, ["same-id-1"]);
    assert.equal(await stored("ingest/dedupe"), 1);
  });

  it("passes a valid traceparent on with the event, and ignores an invalid one", async () => {
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await gw.send("POST", "/e/k", { name: "ingest/traced" }, { traceparent });
    assert.equal((await lastStored("ingest/traced")).headers?.get(Headers.traceparent), traceparent);
    const r = await gw.send("POST", "/e/k", { name: "ingest/untraced" }, { traceparent: "nope" });
    assert.equal(r.status, 200);
    assert.equal((await lastStored("ingest/untraced")).headers?.get(Headers.traceparent) ?? "", "");
  });

  it("refuses bad JSON and a bad event with 400 naming the field, storing nothing of the request", async () => {
    const before = await stored("ingest/ok");
    const ok = { name: "ingest/ok" };
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      ["", /^invalid JSON: /],
      ["null", /^event: must be an object$/],
      ['"just a string"', /^event: must be an object$/],
      ["[]", /^no events: the body is an empty array$/],
      [{ data: {} }, /^event\.name: /],
      [{ name: "" }, /^event\.name: must be a non-empty string/],
      [{ name: "x", data: [1] }, /^event\.data: must be an object/],
      [{ name: "x", ts: -1 }, /^event\.ts: must be/],
      [{ name: "x", id: "with space" }, /^event\.id: must be printable ASCII/],
      [{ name: "inngest/function.finished" }, /^event\.name: is reserved: names starting with "inngest\/"/],
      [[ok, { name: "x", data: 5 }], /^events\[1\]\.data: must be an object/],
      [[ok, ok, 7], /^events\[2\]: must be an object$/],
      [Array.from({ length: 5001 }, () => ok), /^too many events: 5001 in one request, at most 5000$/],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("POST", "/e/k", body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.deepEqual(r.body.ids, []);
      assert.equal(r.body.status, 400);
      assert.match(r.body.error ?? "", re, JSON.stringify(body).slice(0, 80));
    }
    assert.equal(await stored("ingest/ok"), before, "no valid event of a refused batch was stored");
  });

  it("refuses an event over 512 KiB (413 naming it) and a body over the route's limit (413)", async () => {
    const before = await stored("ingest/ok");
    const big = await gw.send("POST", "/e/k", [
      { name: "ingest/ok" },
      { name: "ingest/big", data: { s: "x".repeat(MAX_EVENT_BYTES) } },
    ]);
    assert.equal(big.status, 413);
    assert.match(big.body.error ?? "", /^events\[1\] is \d+ bytes; at most 524288 per event$/);
    assert.deepEqual(big.body.ids, []);
    const huge = await gw.send("POST", "/e/k", `[${'"x",'.repeat(MaxBodyBytes.events / 4)}"x"]`);
    assert.equal(huge.status, 413);
    assert.deepEqual(huge.body, {
      ids: [],
      status: 413,
      error: `body: larger than ${MaxBodyBytes.events} bytes, the limit of POST /e/:key`,
    });
    assert.equal(await stored("ingest/ok"), before);
  });

  it("POST /v1/events takes events as /e/:key does, with no event key", async () => {
    const r = await gw.send("POST", "/v1/events", [{ name: "ingest/api" }, { name: "ingest/api" }]);
    assert.equal(r.status, 200);
    assert.equal((r.body.ids as string[]).length, 2);
    const bad = await gw.send("POST", "/v1/events", { name: "ingest/api", data: "s" });
    assert.deepEqual([bad.status, bad.body.error], [400, "event.data: must be an object"]);
  });

  it("with event keys configured, refuses another key with 401 before the body is read", async () => {
    const keyed = await secondGateway(gw, { eventKeys: ["right-key"] });
    try {
      const before = await stored("ingest/keyed");
      const wrong = await keyed.inject({
        method: "POST",
        url: "/e/wrong-key",
        body: '{"name":"ingest/keyed"}',
      });
      assert.equal(wrong.statusCode, 401);
      assert.deepEqual(wrong.json(), { ids: [], status: 401, error: "key: unknown event key" });
      // Even a body that is not JSON: the key is checked first.
      const unread = await keyed.inject({ method: "POST", url: "/e/wrong-key", body: "{nope" });
      assert.equal(unread.statusCode, 401);
      const right = await keyed.inject({
        method: "POST",
        url: "/e/right-key",
        body: '{"name":"ingest/keyed"}',
      });
      assert.equal(right.statusCode, 200);
      assert.equal(await stored("ingest/keyed"), before + 1);
    } finally {
      await keyed.close();
    }
  });
});
