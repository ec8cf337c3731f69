/**
 * App registration (`POST /fn/register`, what an SDK sends when synced), the apps API
 * (`/v1/apps`: add, sync, list, remove) and `GET /v1/functions`, through `app.inject()` on a
 * gateway over a private nats-server.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { hashSigningKey } from "@jetstep/core";
import { syncToken } from "./sync-token.ts";
import { secondGateway, startTestGateway, type TestGateway } from "./test-support.ts";

const fn = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  name: id,
  triggers: [{ event: "reg/x" }],
  steps: {
    step: {
      id: "step",
      name: "step",
      runtime: { type: "http", url: `http://127.0.0.1:1/api?fnId=${id}&stepId=step` },
    },
  },
  ...extra,
});
const registration = (appName: string, functions: unknown[], extra: Record<string, unknown> = {}) => ({
  url: "http://127.0.0.1:1/api",
  appName,
  functions,
  ...extra,
});

interface Listed {
  id?: string;
  appId?: string | null;
  url?: string;
  sync?: { ok: boolean; error?: string } | null;
}

describe("POST /fn/register (dev: no signing key)", () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway();
  });
  after(() => gw?.stop());

  const functionIds = async () =>
    ((await gw.send("GET", "/v1/functions")).body.data as Listed[]).map((f) => f.id).sort();

  it("registers an app and lists its functions; the same registration again is not a change", async () => {
    const body = registration("reg-shop", [fn("reg-shop-a"), fn("reg-shop-b")]);
    const first = await gw.send("POST", "/fn/register", body);
    assert.deepEqual(first, { status: 200, body: { ok: true, modified: true, status: 200 } });
    const again = await gw.send("POST", "/fn/register", body);
    assert.deepEqual(again.body, { ok: true, modified: false, status: 200 });
    const fns = (await gw.send("GET", "/v1/functions")).body.data as Record<string, unknown>[];
    const a = fns.find((f) => f.id === "reg-shop-a");
    assert.deepEqual(
      { id: a?.id, name: a?.name, app_id: a?.app_id, triggers: a?.triggers },
      { id: "reg-shop-a", name: "reg-shop-a", app_id: "reg-shop", triggers: [{ event: "reg/x" }] },
    );
  });

  it("refuses an invalid registration with 400 naming the field, and keeps the previous one", async () => {
    await gw.send("POST", "/fn/register", registration("reg-kept", [fn("reg-kept-a")]));
    const before = await functionIds();
    const cases: [unknown, RegExp][] = [
      ["{nope", /^invalid JSON: /],
      ["[]", /^\(root\): Invalid input: expected object, received array$/],
      [{ ...registration("reg-kept", []), appName: undefined }, /^appName: /],
      [
        registration("reg-kept", [fn("reg-kept-a"), fn("reg-kept-a")]),
        /^functions\.1\.id: duplicate function id/,
      ],
      [registration("reg-kept", [fn("reg-kept-b")], { url: "/api/inngest" }), /^url: /],
      [registration("reg-kept", [fn("reg-kept-b")], { url: "localhost:3000/api" }), /^url: /],
      [
        registration("reg-kept", [fn("reg-kept-b", { steps: { step: { runtime: { url: "nope" } } } })]),
        /^functions\.0\.steps\.step\.runtime\.url/,
      ],
      [
        registration("reg-kept", [
          fn("reg-kept-b", { triggers: [{ event: "x", expression: "event.data.x ==" }] }),
        ]),
        /^functions\.0\.triggers\.0\.expression: invalid expression/,
      ],
      [
        registration("reg-kept", [fn("reg-kept-b", { triggers: [{ cron: "61 * * * *" }] })]),
        /^functions\.0\.triggers\.0\.cron: invalid cron/,
      ],
      [registration("reg-kept", [fn("x".repeat(257))]), /^functions\.0\.id: must be at most 256 characters$/],
    ];
    for (const [body, re] of cases) {
      const r = await gw.send("POST", "/fn/register", body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 100));
      assert.equal(r.body.status, 400);
      assert.match(r.body.error ?? "", re, JSON.stringify(body).slice(0, 100));
    }
    assert.deepEqual(await functionIds(), before, "nothing of a refused registration was stored");
  });

  it("refuses a registration too large for one KV value with 413", async () => {
    const many = Array.from({ length: 600 }, (_, i) => fn(`reg-big-${i}`, { name: "n".repeat(2000) }));
    const r = await gw.send("POST", "/fn/register", registration("reg-big", many));
    assert.equal(r.status, 413);
    assert.match(r.body.error ?? "", /^registration: \d+ bytes as stored; at most \d+ \(it is one KV value/);
    assert.ok(!(await functionIds()).includes("reg-big-0"));
  });

  it("in dev, another app may take a function id over (renames while developing)", async () => {
    await gw.send("POST", "/fn/register", registration("reg-old", [fn("reg-moved")]));
    const r = await gw.send("POST", "/fn/register", registration("reg-new", [fn("reg-moved")]));
    assert.equal(r.status, 200);
    const fns = (await gw.send("GET", "/v1/functions")).body.data as Record<string, unknown>[];
    assert.equal(fns.find((f) => f.id === "reg-moved")?.app_id, "reg-new");
  });

  it("stores the app's URL without the sync's deployId", async () => {
    const url = "http://127.0.0.1:1/api/deploy?deployId=abc&x=1";
    assert.equal(
      (await gw.send("POST", "/fn/register", registration("reg-deploy", [fn("reg-deploy-a")], { url })))
        .status,
      200,
    );
    const apps = (await gw.send("GET", "/v1/apps")).body.data as Listed[];
    assert.equal(apps.find((a) => a.appId === "reg-deploy")?.url, "http://127.0.0.1:1/api/deploy?x=1");
  });

  it("with --allow-app-url, refuses the app's URL and its functions' call URLs elsewhere (400)", async () => {
    const strict = await secondGateway(gw, { allowAppUrls: ["http://127.0.0.1:1/api*"] });
    try {
      const send = async (body: unknown) => {
        const res = await strict.inject({ method: "POST", url: "/fn/register", body: JSON.stringify(body) });
        return { status: res.statusCode, error: (res.json() as { error?: string }).error };
      };
      const app = await send(
        registration("reg-allow", [fn("reg-allow-a")], { url: "http://169.254.169.254/api" }),
      );
      assert.equal(app.status, 400);
      assert.match(app.error ?? "", /^url: /);
      const call = fn("reg-allow-a", { steps: { step: { runtime: { url: "http://10.0.0.1/api" } } } });
      const step = await send(registration("reg-allow", [call]));
      assert.equal(step.status, 400);
      assert.match(step.error ?? "", /^functions\[0\]\.steps: /);
      assert.equal((await send(registration("reg-allow", [fn("reg-allow-a")]))).status, 200);
    } finally {
      await strict.close();
    }
  });
});

describe("POST /fn/register with a signing key (jetstep start)", () => {
  const signingKey = "signkey-prod-0123456789abcdef";
  const signed = { authorization: `Bearer ${hashSigningKey(signingKey)}` };
  let gw: TestGateway;
  before(async () => {
    gw = await startTestGateway({ signingKey });
  });
  after(() => gw?.stop());

  it("refuses an app without the hashed signing key with 401, before reading the body", async () => {
    const unsigned: Record<string, string>[] = [{}, { authorization: `Bearer ${signingKey}` }];
    for (const headers of unsigned) {
      const r = await gw.send("POST", "/fn/register", "{not JSON", headers);
      assert.equal(r.status, 401);
      assert.equal(
        r.body.error,
        "authorization: missing or wrong signing key (Authorization: Bearer <hashed signing key>)",
      );
    }
    const ok = await gw.send("POST", "/fn/register", registration("sk-a", [fn("sk-a-1")]), signed);
    assert.equal(ok.status, 200);
  });

  it("the REST API beside it needs a key: 401 without one, 200 with the signing key", async () => {
    const open = await gw.send("GET", "/v1/functions");
    assert.deepEqual(open, {
      status: 401,
      body: { status: 401, error: "authorization: send Authorization: Bearer <API key>" },
    });
    const keyed = await gw.send("GET", "/v1/functions", undefined, { authorization: `Bearer ${signingKey}` });
    assert.equal(keyed.status, 200);
  });

  it("refuses another app's function id with 409 naming its owner", async () => {
    await gw.send("POST", "/fn/register", registration("sk-owner", [fn("sk-owned")]), signed);
    const r = await gw.send(
      "POST",
      "/fn/register",
      registration("sk-thief", [fn("sk-free"), fn("sk-owned")]),
      signed,
    );
    assert.equal(r.status, 409);
    assert.equal(
      r.body.error,
      'functions[1].id: "sk-owned" belongs to app "sk-owner" (http://127.0.0.1:1/api); remove that app first (DELETE /v1/apps/sk-owner)',
    );
  });

  it("moves an app to another URL only with the token of a sync of that URL (409, 400 otherwise)", async () => {
    await gw.send("POST", "/fn/register", registration("sk-move", [fn("sk-move-1")]), signed);
    const elsewhere = "http://127.0.0.2:1/api";
    const moved = registration("sk-move", [fn("sk-move-1")], { url: elsewhere });
    const unsynced = await gw.send("POST", "/fn/register", moved, signed);
    assert.equal(unsynced.status, 409);
    assert.match(
      unsynced.body.error ?? "",
      /^url: app "sk-move" is registered at http:\/\/127\.0\.0\.1:1\/api; it moves/,
    );
    const forUrl = (url: string) => encodeURIComponent(syncToken(signingKey, url, Date.now()));
    const otherToken = await gw.send(
      "POST",
      `/fn/register?deployId=${forUrl("http://127.0.0.3:1/api")}`,
      moved,
      signed,
    );
    assert.equal(otherToken.status, 400);
    assert.match(otherToken.body.error ?? "", /^url: the app was synced at another URL than it registers/);
    const expired = encodeURIComponent(syncToken(signingKey, elsewhere, Date.now() - 3_600_000));
    const late = await gw.send("POST", `/fn/register?deployId=${expired}`, moved, signed);
    assert.deepEqual(
      [late.status, late.body.error],
      [400, "deployId: the sync this registration answers expired; sync again"],
    );
    const synced = await gw.send("POST", `/fn/register?deployId=${forUrl(elsewhere)}`, moved, signed);
    assert.equal(synced.status, 200, synced.body.error);
  });

  it("refuses a registration answering a sync that began before the app was removed (409)", async () => {
    const api = { authorization: `Bearer ${signingKey}` };
    const url = "http://127.0.0.1:1/api";
    const begun = Date.now() - 1000; // a sync of the URL under way when the app is removed
    const token = (at: number) => encodeURIComponent(syncToken(signingKey, url, at));
    const reg = registration("sk-removed", [fn("sk-removed-1")], { url });
    assert.equal((await gw.send("POST", `/fn/register?deployId=${token(begun)}`, reg, signed)).status, 200);
    const removed = await gw.send("DELETE", "/v1/apps/sk-removed", undefined, api);
    assert.equal(removed.status, 200, removed.body.error);
    // The sync's registration arrives after the removal: refused, and the app stays removed.
    const late = await gw.send("POST", `/fn/register?deployId=${token(begun)}`, reg, signed);
    assert.equal(late.status, 409);
    assert.match(late.body.error ?? "", /^url: http:\/\/127\.0\.0\.1:1\/api was removed while the sync/);
    const apps = (await gw.send("GET", "/v1/apps", undefined, api)).body.data as { appId: string | null }[];
    assert.equal(
      apps.some((a) => a.appId === "sk-removed"),
      false,
    );
    // A sync begun after the removal registers it again.
    const again = await gw.send("POST", `/fn/register?deployId=${token(Date.now() + 2000)}`, reg, signed);
    assert.equal(again.status, 200, again.body.error);
  });
});

describe("/v1/apps", () => {
  let gw: TestGateway;
  let app404: Server;
  let app404Url = "";
  before(async () => {
    gw = await startTestGateway();
    app404 = createServer((_req, res) => res.writeHead(404).end("no such page"));
    await new Promise<void>((resolve) => app404.listen(0, "127.0.0.1", resolve));
    app404Url = `http://127.0.0.1:${(app404.address() as AddressInfo).port}/api/inngest`;
  });
  after(async () => {
    await gw?.stop();
    await new Promise((resolve) => app404?.close(resolve));
  });

  const listed = async () => (await gw.send("GET", "/v1/apps")).body.data as Listed[];

  it("refuses a body that is not {url} of an http(s) URL with 400 naming the field", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["/v1/apps", "{nope", /^invalid JSON: /],
      ["/v1/apps", {}, /^url: is required and must be a string$/],
      ["/v1/apps", { url: "ftp://127.0.0.1/" }, /^url: must be an http\(s\) URL$/],
      ["/v1/apps", { url: "/api/inngest" }, /^url: must be an http\(s\) URL$/],
      ["/v1/apps", { url: "http://127.0.0.1:1/api", extra: 1 }, /^\(body\): /],
      ["/v1/apps/sync", [1], /^\(body\): /],
      [
        "/v1/apps/sync",
        { url: `http://127.0.0.1:1/${"u".repeat(2048)}` },
        /^url: must be at most 2048 characters$/,
      ],
    ];
    for (const [path, body, re] of cases) {
      const r = await gw.send("POST", path, body);
      assert.equal(r.status, 400, `${path} ${JSON.stringify(body).slice(0, 60)}`);
      assert.match(r.body.error ?? "", re);
    }
    assert.deepEqual(await listed(), []);
  });

  it("adds a URL, syncs it, and lists it with why the sync failed", async () => {
    const r = await gw.send("POST", "/v1/apps", { url: app404Url });
    assert.equal(r.status, 200);
    const expected = {
      url: app404Url,
      ok: false,
      error: "app answered 404: nothing serves this path (the app's serve path, e.g. /api/inngest?)",
    };
    assert.deepEqual(r.body.data, expected);
    const entry = (await listed()).find((a) => a.url === app404Url);
    assert.deepEqual(
      { appId: entry?.appId, error: entry?.sync?.error },
      { appId: null, error: expected.error },
    );
    const unreachable = await gw.send("POST", "/v1/apps/sync", { url: "http://127.0.0.1:1/api" });
    assert.match(
      (unreachable.body.data as { error: string }).error,
      /^could not reach http:\/\/127\.0\.0\.1:1\/api: /,
    );
  });

  it("removes a URL (?url=) and an app (:appId); 400 without a URL, 404 for what is not there", async () => {
    const noUrl = await gw.send("DELETE", "/v1/apps");
    assert.deepEqual([noUrl.status, noUrl.body.error], [400, "url: give the URL to remove as ?url="]);
    const unknownUrl = await gw.send("DELETE", "/v1/apps?url=http%3A%2F%2Fnowhere.test%2F");
    assert.deepEqual(
      [unknownUrl.status, unknownUrl.body.error],
      [404, "url: http://nowhere.test/ is not synced"],
    );
    await gw.send("POST", "/v1/apps", { url: app404Url });
    const removed = await gw.send("DELETE", `/v1/apps?url=${encodeURIComponent(app404Url)}`);
    assert.deepEqual(removed, { status: 200, body: { data: { url: app404Url, removed: true } } });
    assert.ok(!(await listed()).some((a) => a.url === app404Url));

    const unknownApp = await gw.send("DELETE", "/v1/apps/no-such-app");
    assert.deepEqual([unknownApp.status, unknownApp.body.error], [404, "app no-such-app not found"]);
    await gw.send("POST", "/fn/register", registration("apps-gone", [fn("apps-gone-a")]));
    const gone = await gw.send("DELETE", "/v1/apps/apps-gone");
    assert.deepEqual(gone.body, {
      data: { app_id: "apps-gone", url: "http://127.0.0.1:1/api", removed: true },
    });
    const fns = (await gw.send("GET", "/v1/functions")).body.data as Listed[];
    assert.ok(!fns.some((f) => f.id === "apps-gone-a"), "its functions are gone");
  });
});
