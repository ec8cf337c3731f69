/**
 * Security checklist, part 2 (issue 15): app URLs are not a proxy. Only allowed URLs are synced,
 * registered and called; what a URL answers never comes back beyond its status; redirects are not
 * followed; a URL that keeps failing leaves the periodic sync; an app on our SDK never registers
 * the Host of a request as its URL.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { SYNC_GIVE_UP_AFTER, syncToken } from "@jetstep/gateway";
import { Inngest } from "inngest";
import { serve as inngestServe } from "inngest/node";
import { Jetstep, serve } from "jetstep";
import { signingBearer } from "../e2e/harness.ts";
import { waitFor } from "../support/index.ts";
import { rawRequest, startGateway } from "./gateway.ts";

const SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef";
const API_KEY = "operate-key-0123456789abcdef";

/** An "internal" server: a secret page, a redirect to it, and counters of PUTs (all, per path). */
async function internalServer(): Promise<{
  server: Server;
  base: string;
  puts: (path?: string) => number;
}> {
  let puts = 0;
  const putsTo = new Map<string, number>();
  const server = createServer((req, res) => {
    if (req.method === "PUT") {
      puts++;
      const path = req.url?.split("?")[0] ?? "";
      putsTo.set(path, (putsTo.get(path) ?? 0) + 1);
    }
    if (req.url?.split("?")[0] === "/redirect") {
      res.writeHead(302, { location: "/secret" }).end();
      return;
    }
    res.writeHead(req.url?.split("?")[0] === "/secret" ? 404 : 500, { "content-type": "text/plain" });
    res.end("db_password=hunter2");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    server,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    puts: (path) => (path === undefined ? puts : (putsTo.get(path) ?? 0)),
  };
}

interface ListedApp {
  url: string;
  sync: { ok: boolean; error?: string; at: number; failures?: number; retryAt?: number } | null;
}

describe("app URLs in jetstep start", () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let internal: Awaited<ReturnType<typeof internalServer>>;
  let url = "";
  const allowed = "http://orders.internal:3001/api/inngest";

  before(async () => {
    internal = await internalServer();
    gw = await startGateway({
      signingKey: SIGNING_KEY,
      eventKeys: ["k"],
      apiKeys: [API_KEY],
      allowAppUrls: [allowed, `${internal.base}/redirect`],
    });
    url = gw.url;
  });
  after(async () => {
    await gw?.stop();
    internal?.server.close();
  });

  const operate = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("refuses to sync a URL --allow-app-url does not name (400), and requests nothing", async () => {
    for (const path of ["/v1/apps", "/v1/apps/sync"]) {
      const r = await operate(path, { url: `${internal.base}/secret` });
      assert.equal(r.status, 400, path);
      assert.match(((await r.json()) as { error: string }).error, /^url: .* is not an allowed app URL/);
    }
    assert.equal(internal.puts(), 0, "the internal server was never asked");
  });

  it("refuses a signed registration whose URL or function URL is not allowed (400)", async () => {
    const fn = (callUrl: string) => ({
      id: "orders-place",
      name: "place",
      triggers: [{ event: "shop/order.placed" }],
      steps: { step: { id: "step", name: "step", runtime: { type: "http", url: callUrl } } },
    });
    const register = (body: unknown) =>
      fetch(`${url}/fn/register`, {
        method: "POST",
        headers: { authorization: signingBearer(SIGNING_KEY), "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const moved = await register({
      url: "http://attacker.example/api/inngest",
      appName: "orders",
      functions: [],
    });
    assert.equal(moved.status, 400);
    assert.match(((await moved.json()) as { error: string }).error, /^url: .* is not an allowed app URL/);
    const sneaky = await register({
      url: allowed,
      appName: "orders",
      functions: [fn("http://attacker.example/api/inngest?fnId=orders-place&stepId=step")],
    });
    assert.equal(sneaky.status, 400);
    assert.match(
      ((await sneaky.json()) as { error: string }).error,
      /^functions\[0\]\.steps: .* not an allowed/,
    );
    const fine = await register({
      url: allowed,
      appName: "orders",
      functions: [fn(`${allowed}?fnId=orders-place&stepId=step`)],
    });
    assert.equal(fine.status, 200, await fine.text());
  });

  it("keeps a function with the app that registered it: another app gets 409 until the operator removes the first", async () => {
    const other = `${internal.base}/redirect`;
    const fn = (appUrl: string) => ({
      id: "shared-fn",
      name: "fn",
      triggers: [{ event: "x/y" }],
      steps: {
        step: {
          id: "step",
          name: "step",
          runtime: { type: "http", url: `${appUrl}?fnId=shared-fn&stepId=step` },
        },
      },
    });
    const register = (appName: string, appUrl: string) =>
      fetch(`${url}/fn/register`, {
        method: "POST",
        headers: { authorization: signingBearer(SIGNING_KEY), "content-type": "application/json" },
        body: JSON.stringify({ url: appUrl, appName, functions: [fn(appUrl)] }),
      });
    assert.equal((await register("owner", allowed)).status, 200);
    const takeover = await register("intruder", other);
    assert.equal(takeover.status, 409);
    assert.match(
      ((await takeover.json()) as { error: string }).error,
      /^functions\[0\]\.id: "shared-fn" belongs to app "owner" \(http:\/\/orders\.internal:3001\/api\/inngest\); remove that app first/,
    );
    const auth = { authorization: `Bearer ${API_KEY}` };
    assert.equal((await fetch(`${url}/v1/apps/nobody`, { method: "DELETE", headers: auth })).status, 404);
    const removed = await fetch(`${url}/v1/apps/owner`, { method: "DELETE", headers: auth });
    assert.equal(removed.status, 200);
    assert.deepEqual(((await removed.json()) as { data: unknown }).data, {
      app_id: "owner",
      url: allowed,
      removed: true,
    });
    await waitFor(
      async () => {
        const fns = (await (await fetch(`${url}/v1/functions`, { headers: auth })).json()) as {
          data: { id: string }[];
        };
        return !fns.data.some((f) => f.id === "shared-fn");
      },
      { timeoutMs: 5_000, message: "the removed app's function is still listed" },
    );
    assert.equal((await register("intruder", other)).status, 200, "now it may");
  });

  it("does not follow redirects, and never passes on what a URL answered", async () => {
    const r = await operate("/v1/apps/sync", { url: `${internal.base}/redirect` });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { data: { ok: boolean; error: string } };
    assert.equal(body.data.ok, false);
    assert.match(body.data.error, /^app answered 302: a redirect \(not followed/);
    assert.equal(internal.puts(), 1, "the redirect target was not requested");
    const apps = (await (
      await fetch(`${url}/v1/apps`, { headers: { authorization: `Bearer ${API_KEY}` } })
    ).json()) as {
      data: ListedApp[];
    };
    assert.ok(!JSON.stringify(apps).includes("hunter2"));
  });
});

describe("a URL that keeps failing leaves the periodic sync", () => {
  /** Short: the backoffs before the tenth failure add up to 243 intervals (2.4 s here). */
  const SYNC_INTERVAL_MS = 10;
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let internal: Awaited<ReturnType<typeof internalServer>>;
  let url = "";

  before(async () => {
    internal = await internalServer();
    gw = await startGateway({ syncIntervalMs: SYNC_INTERVAL_MS });
    url = gw.url;
  });
  after(async () => {
    await gw?.stop();
    internal?.server.close();
  });

  it(`stops after ${SYNC_GIVE_UP_AFTER} failures in a row, says so, and resumes when synced by hand`, async () => {
    const failing = `${internal.base}/failing`;
    const added = await fetch(`${url}/v1/apps`, { method: "POST", body: JSON.stringify({ url: failing }) });
    assert.equal(added.status, 200);
    const listed = async () =>
      ((await (await fetch(`${url}/v1/apps`)).json()) as { data: ListedApp[] }).data.find(
        (a) => a.url === failing,
      );
    // While it fails, /v1/apps says how often and when it is tried next (doubling per failure).
    const backingOff = await waitFor(
      async () => {
        const app = await listed();
        return (app?.sync?.failures ?? 0) >= 3 && app?.sync?.retryAt !== undefined ? app : null;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: "the failing URL's backoff was never listed" },
    );
    const { failures = 0, retryAt = 0, at } = backingOff.sync ?? { at: 0 };
    // The sync interval doubled per failure after the first, at most 60 intervals.
    assert.equal(
      retryAt - at,
      SYNC_INTERVAL_MS * Math.min(2 ** (failures - 1), 60),
      `backoff after ${failures} failures`,
    );
    const given = await waitFor(
      async () => {
        const app = await listed();
        return app?.sync?.error?.includes("not retried after") ? app : null;
      },
      { timeoutMs: 30_000, intervalMs: 250, message: "the failing URL was never given up" },
    );
    assert.match(
      given.sync?.error ?? "",
      new RegExp(
        `^app answered 500: the app failed \\(see its logs\\) \\(not retried after ${SYNC_GIVE_UP_AFTER} failures`,
      ),
    );
    const failed = () => internal.puts("/failing");
    const atGiveUp = failed();
    assert.ok(atGiveUp >= SYNC_GIVE_UP_AFTER);
    // Several sync passes later nothing more was requested: a witness URL added now is synced by
    // every pass (all URLs at once; passes one after another), so its PUTs count the passes.
    const passes = async (witness: string, n: number) => {
      const add = await fetch(`${url}/v1/apps`, { method: "POST", body: JSON.stringify({ url: witness }) });
      assert.equal(add.status, 200);
      const path = new URL(witness).pathname;
      const from = internal.puts(path);
      await waitFor(() => internal.puts(path) >= from + n, {
        timeoutMs: 10_000,
        message: `${n} sync passes after ${witness} was added`,
      });
    };
    await passes(`${internal.base}/witness-1`, 3);
    assert.ok(failed() <= atGiveUp + 1, `kept syncing: ${failed()} PUTs after ${atGiveUp}`);
    const again = await fetch(`${url}/v1/apps/sync`, {
      method: "POST",
      body: JSON.stringify({ url: failing }),
    });
    assert.equal(again.status, 200);
    await waitFor(() => failed() > atGiveUp + 3, {
      timeoutMs: 10_000,
      message: "sync did not resume",
    });
    // Removed: it leaves the sync for good (a pass under way at the removal may still PUT it).
    const gone = await fetch(`${url}/v1/apps?url=${encodeURIComponent(failing)}`, { method: "DELETE" });
    assert.equal(gone.status, 200);
    assert.equal(await listed(), undefined);
    const atRemoval = failed();
    await passes(`${internal.base}/witness-2`, 3);
    assert.ok(failed() <= atRemoval + 1, "still synced after removal");
    assert.equal(
      (await fetch(`${url}/v1/apps?url=${encodeURIComponent(failing)}`, { method: "DELETE" })).status,
      404,
    );
  });
});

describe("an app cannot be made to register elsewhere by a forged Host", () => {
  let gateway: Server;
  const registered: { url: string }[] = [];
  let base = "";

  before(async () => {
    // A stand-in for Jetstep's /fn/register: records what the app says its URL is.
    gateway = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        registered.push(JSON.parse(Buffer.concat(chunks).toString()) as { url: string });
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true,"modified":false}');
      });
    });
    await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
  });
  after(() => {
    gateway?.close();
  });

  const appWith = async (serveOrigin?: string) => {
    const client = new Jetstep({
      id: "victim",
      baseUrl: base,
      signingKey: SIGNING_KEY,
      ...(serveOrigin ? { serveOrigin } : {}),
      env: {},
    });
    const fn = client.createFunction({ id: "f" }, { event: "a" }, () => 1);
    const server = createServer(serve({ client, functions: [fn] }));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return { server, port: (server.address() as AddressInfo).port };
  };
  const forgedPut = (port: number) =>
    rawRequest(`http://127.0.0.1:${port}`, "PUT", "/api/inngest", { host: "attacker.example" });

  it("with a signing key and no serveOrigin, a sync is refused (500 saying why) and nothing registers", async () => {
    const app = await appWith();
    try {
      const r = await forgedPut(app.port);
      assert.equal(r.status, 500);
      assert.match(r.body, /serveOrigin is not set/);
      assert.equal(registered.length, 0);
    } finally {
      app.server.close();
    }
  });

  it("with serveOrigin, the configured origin registers whatever Host the PUT names", async () => {
    const app = await appWith("http://orders.internal:3001");
    try {
      const r = await forgedPut(app.port);
      assert.equal(r.status, 200, r.body);
      assert.equal(registered.at(-1)?.url, "http://orders.internal:3001/api/inngest");
    } finally {
      app.server.close();
    }
  });
});

describe("an app on the official SDK cannot be moved by a forged Host: Jetstep checks the URL it synced", () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let app: Server;
  let port = 0;
  const listed = async () =>
    (
      (await (
        await fetch(`${gw.url}/v1/apps`, { headers: { authorization: `Bearer ${API_KEY}` } })
      ).json()) as {
        data: { appId: string | null; url: string }[];
      }
    ).data.filter((a) => a.appId === "official");
  const sync = (url: string) =>
    fetch(`${gw.url}/v1/apps`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ url }),
    });

  before(async () => {
    // No serveHost: the official SDK takes its URL from the request, as the issue reproduced.
    app = createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => app.listen(0, "127.0.0.1", r));
    port = (app.address() as AddressInfo).port;
    // Both names reach the app, and both are allowed: only the sync check tells them apart.
    gw = await startGateway({
      signingKey: SIGNING_KEY,
      eventKeys: ["k"],
      apiKeys: [API_KEY],
      allowAppUrls: [`http://127.0.0.1:${port}/api/inngest`, `http://localhost:${port}/api/inngest`],
    });
    const client = new Inngest({ id: "official", isDev: false, signingKey: SIGNING_KEY, baseUrl: gw.url });
    const fn = client.createFunction({ id: "f", triggers: [{ event: "official/a" }] }, async () => 1);
    handler = inngestServe({ client, functions: [fn] });
  });
  after(async () => {
    app?.close();
    await gw?.stop();
  });
  let handler: ReturnType<typeof inngestServe> = () => undefined;

  it("registers the URL the operator synced; a PUT with a forged Host cannot move it (409)", async () => {
    const real = `http://127.0.0.1:${port}/api/inngest`;
    const synced = await sync(real);
    assert.equal(synced.status, 200, await synced.text());
    assert.deepEqual(
      (await listed()).map((a) => a.url),
      [real],
    );
    const forged = await rawRequest(`http://127.0.0.1:${port}`, "PUT", "/api/inngest", {
      host: `localhost:${port}`,
    });
    assert.notEqual(forged.status, 200, "the app reports its registration refused");
    assert.match(forged.body, /is registered at http:\/\/127\.0\.0\.1.*only when Jetstep syncs that URL/);
    assert.deepEqual(
      (await listed()).map((a) => a.url),
      [real],
      "the app stays where the operator put it",
    );
  });

  it("moves the app when the operator syncs the new URL", async () => {
    const moved = `http://localhost:${port}/api/inngest`;
    const synced = await sync(moved);
    assert.equal(synced.status, 200, await synced.text());
    assert.deepEqual(
      (await listed()).map((a) => a.url),
      [moved],
    );
  });

  it("refuses a registration of another URL than the one synced (400 naming the serve host)", async () => {
    const res = await fetch(
      `${gw.url}/fn/register?deployId=${encodeURIComponent(syncToken(SIGNING_KEY, "http://127.0.0.1:9/api/inngest", Date.now()))}`,
      {
        method: "POST",
        headers: { authorization: signingBearer(SIGNING_KEY), "content-type": "application/json" },
        body: JSON.stringify({
          url: `http://localhost:${port}/api/inngest`,
          appName: "official",
          functions: [],
        }),
      },
    );
    assert.equal(res.status, 400);
    assert.match(
      ((await res.json()) as { error: string }).error,
      /^url: the app was synced at another URL.*serveHost/,
    );
  });
});
