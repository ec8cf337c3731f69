import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { canonicalJson } from "./canonical-json.ts";
import { type ExpressLikeRequest, serveExpress } from "./serve-express.ts";
import { callBody, callSignature, listen, testClient } from "./test-helpers.ts";

const client = testClient();
const fn = client.createFunction({ id: "echo" }, { event: "test/event" }, async ({ event }) => event.data);

/** Mimics `app.use("/api/inngest", express.json(), handler)`: strips the mount path, parses JSON. */
function mounted(handler: ReturnType<typeof serveExpress>, parseJson: boolean) {
  return (req: IncomingMessage, res: import("node:http").ServerResponse) => {
    const xreq = req as ExpressLikeRequest;
    xreq.originalUrl = req.url;
    xreq.url = (req.url ?? "/").replace(/^\/api\/inngest/, "") || "/";
    const next = (err?: unknown) => {
      res.writeHead(599);
      res.end(String(err));
    };
    if (!parseJson || req.method === "GET") return handler(xreq, res, next);
    let text = "";
    req.on("data", (c: Buffer) => {
      text += c.toString("utf8");
    });
    req.on("end", () => {
      xreq.body = text ? JSON.parse(text) : {};
      handler(xreq, res, next);
    });
  };
}

for (const parseJson of [true, false]) {
  test(`serveExpress ${parseJson ? "with a body already parsed" : "reading the raw stream"}`, async () => {
    const app = await listen(mounted(serveExpress({ client, functions: [fn] }), parseJson));
    try {
      const res = await fetch(`${app.url}/api/inngest?fnId=app-echo&stepId=step`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(callBody()),
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("x-inngest-framework"), "express");
      assert.deepEqual(await res.json(), { userId: "u1" });
      const get = await fetch(`${app.url}/api/inngest`);
      assert.equal(get.status, 200);
    } finally {
      await app.close();
    }
  });
}

test("serveExpress verifies signatures on a parsed body (JCS form)", async () => {
  const key = `signkey-test-${"ab".repeat(32)}`;
  const signed = testClient({ signingKey: key });
  const f = signed.createFunction({ id: "echo" }, { event: "test/event" }, async () => "ok");
  const app = await listen(mounted(serveExpress({ client: signed, functions: [f] }), true));
  try {
    const body = callBody();
    const t = String(Math.floor(signed.now() / 1000));
    const post = (signed: string) =>
      fetch(`${app.url}/api/inngest?fnId=app-echo`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...callSignature(key, "/api/inngest?fnId=app-echo", signed, t),
        },
        body: JSON.stringify(body),
      });
    assert.equal((await post(canonicalJson(body))).status, 200);
    assert.equal((await post("{}")).status, 401);
  } finally {
    await app.close();
  }
});

test("serveExpress registers the mounted path (originalUrl), not the stripped one", async () => {
  let registered = "";
  const c = testClient({
    fetch: async (_url, init) => {
      registered = (JSON.parse(String(init?.body)) as { url: string }).url;
      return new Response(JSON.stringify({ ok: true }), { status: 200 });
    },
  });
  const f = c.createFunction({ id: "f" }, { event: "a" }, () => 1);
  const app = await listen(mounted(serveExpress({ client: c, functions: [f] }), true));
  try {
    const res = await fetch(`${app.url}/api/inngest`, { method: "PUT" });
    assert.equal(res.status, 200);
    assert.equal(registered, `${app.url}/api/inngest`);
  } finally {
    await app.close();
  }
});
