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
