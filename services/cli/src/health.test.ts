import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startHealthServer } from "./health.ts";

describe("health endpoint", () => {
  it("answers 200 while healthy, 503 when not, and 404 to anything else", async () => {
    let ok = true;
    const server = await startHealthServer("127.0.0.1", 0, () => ({
      ok,
      detail: { nats: ok ? "connected" : "down" },
    }));
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const up = await fetch(`${base}/healthz`);
      assert.equal(up.status, 200);
      assert.deepEqual(await up.json(), { status: "ok", nats: "connected" });
      ok = false;
      const down = await fetch(`${base}/healthz`);
      assert.equal(down.status, 503);
      assert.deepEqual(await down.json(), { status: "unavailable", nats: "down" });
      assert.equal((await fetch(`${base}/`)).status, 404);
      assert.equal((await fetch(`${base}/healthz`, { method: "POST" })).status, 404);
    } finally {
      await server.stop();
    }
  });
});
