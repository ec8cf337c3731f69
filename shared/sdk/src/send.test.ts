import assert from "node:assert/strict";
import { test } from "node:test";
import { SendEventError } from "./errors.ts";
import { fakeGateway, listen, testClient } from "./test-helpers.ts";

test("send() posts an array to /e/<key> and returns the ids", async () => {
  const gw = await fakeGateway(() => ({ status: 200, body: { ids: ["a", "b"], status: 200 } }));
  try {
    const client = testClient({ baseUrl: gw.url, eventKey: "k1" });
    const out = await client.send([
      { name: "x/one", data: { n: 1 } },
      { name: "x/two", id: "dedupe-me", ts: 5 },
    ]);
    assert.deepEqual(out, { ids: ["a", "b"] });
    const [req] = gw.received;
    assert.equal(req?.url, "/e/k1");
    assert.deepEqual(JSON.parse(req?.body ?? ""), [
      { name: "x/one", data: { n: 1 }, ts: 1_700_000_000_000 },
      { name: "x/two", id: "dedupe-me", ts: 5, data: {} },
    ]);
  } finally {
    await gw.close();
  }
});

test("a single event and no key use /e/dev", async () => {
  const gw = await fakeGateway(() => ({ status: 200, body: { ids: ["a"], status: 200 } }));
  try {
    const out = await testClient({ baseUrl: gw.url }).send({ name: "x/one" });
    assert.deepEqual(out, { ids: ["a"] });
    assert.equal(gw.received[0]?.url, "/e/dev");
  } finally {
    await gw.close();
  }
});

test("a non-2xx answer throws SendEventError with the gateway's message", async () => {
  const gw = await fakeGateway(() => ({
    status: 400,
    body: { ids: [], status: 400, error: "event name is required" },
  }));
  try {
    await assert.rejects(testClient({ baseUrl: gw.url }).send({ name: "x" }), (e: unknown) => {
      assert.ok(e instanceof SendEventError);
      assert.equal(e.status, 400);
      assert.equal(e.code, "SEND_EVENT_FAILED");
      assert.match(e.message, /event name is required/);
      return true;
    });
  } finally {
    await gw.close();
  }
});

test("an unreachable gateway throws SendEventError with status 0", async () => {
  const dead = await listen(() => {});
  await dead.close();
  await assert.rejects(
    testClient({ baseUrl: dead.url }).send({ name: "x" }),
    (e) => e instanceof SendEventError && e.status === 0,
  );
});

test("an empty list sends nothing; a nameless event is rejected before sending", async () => {
  const client = testClient({ fetch: () => Promise.reject(new Error("should not be called")) });
  assert.deepEqual(await client.send([]), { ids: [] });
  await assert.rejects(client.send({ name: "" }), SendEventError);
});

test("a long list goes as consecutive requests of at most 1,000 events; ids come back in order", async () => {
  const gw = await fakeGateway((req) => {
    const list = JSON.parse(req.body) as { data: { i: number } }[];
    return { status: 200, body: { ids: list.map((e) => `id-${e.data.i}`), status: 200 } };
  });
  try {
    const events = Array.from({ length: 2_500 }, (_, i) => ({ name: "x/many", data: { i } }));
    const out = await testClient({ baseUrl: gw.url }).send(events);
    assert.deepEqual(
      gw.received.map((r) => (JSON.parse(r.body) as unknown[]).length),
      [1000, 1000, 500],
    );
    assert.deepEqual(
      out.ids,
      events.map((e) => `id-${e.data.i}`),
    );
  } finally {
    await gw.close();
  }
});

test("requests stay under 512 KiB of JSON; a failing request stops the rest", async () => {
  let calls = 0;
  const gw = await fakeGateway((req) => {
    calls++;
    if (calls === 2) return { status: 400, body: { ids: [], status: 400, error: "events[3].name is bad" } };
    const list = JSON.parse(req.body) as unknown[];
    return { status: 200, body: { ids: list.map((_, i) => `id-${calls}-${i}`), status: 200 } };
  });
  try {
    const big = "x".repeat(100_000);
    const events = Array.from({ length: 12 }, (_, i) => ({ name: "x/big", data: { i, big } }));
    await assert.rejects(testClient({ baseUrl: gw.url }).send(events), /events\[3\]\.name is bad/);
    assert.equal(gw.received.length, 2, "no request after the one that failed");
    for (const r of gw.received) assert.ok(Buffer.byteLength(r.body) <= 512 * 1024, `${r.body.length}`);
    assert.equal((JSON.parse(gw.received[0]?.body ?? "[]") as unknown[]).length, 5);
  } finally {
    await gw.close();
  }
});
