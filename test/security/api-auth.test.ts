/**
 * Security checklist, part 1 (issue 15): who may use the REST API and UI. Each test shows an
 * attack failing with the status it gets, and the legitimate use still working.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { connectNats } from "@jetstep/jetstream";
import { headers } from "@nats-io/transport-node";
import { signingBearer } from "../e2e/harness.ts";
import { rawRequest, startGateway } from "./gateway.ts";

const SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef";
const API_KEY = "operate-key-0123456789abcdef";
const READ_KEY = "read-only-key-0123456789abcdef";

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("REST API authentication (jetstep start)", () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let url = "";

  before(async () => {
    gw = await startGateway({
      signingKey: SIGNING_KEY,
      eventKeys: ["event-key"],
      apiKeys: [API_KEY],
      readApiKeys: [READ_KEY],
      corsOrigins: ["https://shop.example.com"],
    });
    url = gw.url;
  });
  after(async () => {
    await gw?.stop();
  });

  const reads = [
    "/v1/runs",
    "/v1/events",
    "/v1/functions",
    "/v1/apps",
    "/v1/dead-letters",
    "/v1/runs/01NOPE",
  ];
  const operations: [string, string, string][] = [
    ["DELETE", "/v1/runs/01NOPE", ""],
    ["POST", "/v1/cancellations", JSON.stringify({ function_id: "x" })],
    ["POST", "/v1/functions/x/invoke", "{}"],
    ["POST", "/v1/runs/01NOPE/rerun", JSON.stringify({ fromStep: "s", output: 1 })],
    ["POST", "/v1/apps", JSON.stringify({ url: "http://169.254.169.254/" })],
    ["POST", "/v1/apps/sync", JSON.stringify({ url: "http://169.254.169.254/" })],
    ["POST", "/v1/events", JSON.stringify({ name: "sec/forged" })],
    ["DELETE", "/v1/apps/someone", ""],
  ];

  it("refuses every read and operation without a credential: 401 naming what to send", async () => {
    for (const path of [...reads, "/v1/stream"]) {
      const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(r.status, 401, `GET ${path}`);
      assert.match(r.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.match(((await r.json()) as { error: string }).error, /Authorization: Bearer/);
    }
    for (const [method, path, body] of operations) {
      const r = await fetch(`${url}${path}`, { method, body: body || undefined });
      assert.equal(r.status, 401, `${method} ${path}`);
    }
    const wrong = await fetch(`${url}/v1/runs`, { headers: bearer("not-a-key-at-all-0000") });
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { error: string }).error, /unknown API key/);
  });

  it("lets a read-only key read but not operate (403)", async () => {
    for (const path of reads) {
      const r = await fetch(`${url}${path}`, { headers: bearer(READ_KEY) });
      assert.notEqual(r.status, 401, `GET ${path}`);
      assert.notEqual(r.status, 403, `GET ${path}`);
      await r.body?.cancel();
    }
    for (const [method, path, body] of operations) {
      const r = await fetch(`${url}${path}`, { method, headers: bearer(READ_KEY), body: body || undefined });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.match(((await r.json()) as { error: string }).error, /may only read/);
    }
  });

  it("lets an API key, or the signing key (raw or hashed, as Inngest's REST API takes it), operate", async () => {
    const hashed = signingBearer(SIGNING_KEY).slice("Bearer ".length);
    for (const key of [API_KEY, SIGNING_KEY, hashed]) {
      const r = await fetch(`${url}/v1/functions/nope/invoke`, {
        method: "POST",
        headers: bearer(key),
        body: "{}",
      });
      assert.equal(r.status, 404, `the route answers (${key.slice(0, 12)}…)`);
      await r.body?.cancel();
      const runs = await fetch(`${url}/v1/runs`, { headers: bearer(key) });
      assert.equal(runs.status, 200);
      await runs.body?.cancel();
    }
    // Events through the API (what the UI's "Send event" uses): the API key stands for an event key.
    const sent = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: { ...bearer(API_KEY), "content-type": "application/json" },
      body: JSON.stringify([{ name: "sec/by-api" }, { name: "sec/by-api" }]),
    });
    assert.equal(sent.status, 200);
    assert.equal(((await sent.json()) as { ids: string[] }).ids.length, 2);
    const reserved = await fetch(`${url}/v1/events`, {
      method: "POST",
      headers: bearer(API_KEY),
      body: JSON.stringify({ name: "inngest/function.finished" }),
    });
    assert.equal(reserved.status, 400, "reserved names are refused here too");
    await reserved.body?.cancel();
  });

  it("keeps the routes that prove themselves open: events by event key, the UI's static files", async () => {
    const sent = await fetch(`${url}/e/event-key`, {
      method: "POST",
      body: JSON.stringify({ name: "sec/ok" }),
    });
    assert.equal(sent.status, 200);
    assert.equal((await fetch(`${url}/e/wrong`, { method: "POST", body: "{}" })).status, 401);
    const ui = await fetch(`${url}/`);
    assert.equal(ui.status, 200);
    assert.match(await ui.text(), /api-key-dialog/);
    const register = await fetch(`${url}/fn/register`, { method: "POST", body: "{}" });
    assert.equal(register.status, 401, "/fn/register wants the signing key");
    await register.body?.cancel();
  });

  it("takes events on NATS only with an event key in the Jetstep-Event-Key header (401 otherwise)", async () => {
    const nc = await connectNats({ servers: gw.nats.url });
    try {
      const ask = async (key?: string) => {
        const h = headers();
        if (key) h.set("Jetstep-Event-Key", key);
        const reply = await nc.nc.request("jetstep.events", JSON.stringify({ name: "sec/nats" }), {
          timeout: 5_000,
          ...(key ? { headers: h } : {}),
        });
        return JSON.parse(new TextDecoder().decode(reply.data)) as {
          status: number;
          error?: string;
          ids: string[];
        };
      };
      const none = await ask();
      assert.equal(none.status, 401);
      assert.match(none.error ?? "", /Jetstep-Event-Key header is missing or not a known event key/);
      assert.equal((await ask("wrong")).status, 401);
      const ok = await ask("event-key");
      assert.equal(ok.status, 200);
      assert.equal(ok.ids.length, 1);
    } finally {
      await nc.close();
    }
  });

  it("lets pages of a --cors-origin site send events with the event key, and nothing else", async () => {
    const shop = "https://shop.example.com";
    const preflight = await fetch(`${url}/e/event-key`, {
      method: "OPTIONS",
      headers: { origin: shop, "access-control-request-method": "POST" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), shop);
    assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
    const sent = await fetch(`${url}/e/event-key`, {
      method: "POST",
      headers: { origin: shop, "content-type": "application/json" },
      body: JSON.stringify({ name: "shop/clicked" }),
    });
    assert.equal(sent.status, 200);
    assert.equal(sent.headers.get("access-control-allow-origin"), shop);
    const wrongKey = await fetch(`${url}/e/wrong`, { method: "POST", headers: { origin: shop }, body: "{}" });
    assert.equal(wrongKey.status, 401, "the event key still guards it");
    const other = await fetch(`${url}/v1/runs`, { headers: { origin: shop, ...bearer(API_KEY) } });
    assert.equal(other.status, 403, "the API stays closed to that site");
    const elsewhere = await fetch(`${url}/e/event-key`, {
      method: "POST",
      headers: { origin: "https://evil.example" },
      body: JSON.stringify({ name: "shop/clicked" }),
    });
    assert.equal(elsewhere.status, 403, "and events stay closed to other sites");
    assert.equal(elsewhere.headers.get("access-control-allow-origin"), null);
  });

  it("refuses cross-site browser requests even with a key (403)", async () => {
    const r = await rawRequest(
      url,
      "POST",
      "/v1/cancellations",
      {
        ...bearer(API_KEY),
        origin: "https://evil.example",
        "content-type": "text/plain",
      },
      JSON.stringify({ function_id: "x" }),
    );
    assert.equal(r.status, 403);
    assert.match(r.body, /origin: requests from https:\/\/evil\.example are not accepted/);
  });
});

describe("jetstep dev: open on loopback, closed to other sites and to reserved events", () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;
  let url = "";

  before(async () => {
    gw = await startGateway({});
    url = gw.url;
  });
  after(async () => {
    await gw?.stop();
  });

  it("refuses a cross-site text/plain POST (a drive-by from a page the developer visits): 403", async () => {
    const body = JSON.stringify({ url: "https://evil.example/api/inngest", appName: "x", functions: [] });
    for (const path of ["/fn/register", "/v1/apps", "/e/any"]) {
      const r = await rawRequest(
        url,
        "POST",
        path,
        { origin: "https://evil.example", "content-type": "text/plain" },
        body,
      );
      assert.equal(r.status, 403, path);
    }
    const opaque = await rawRequest(
      url,
      "POST",
      "/v1/apps",
      { origin: "null", "content-type": "text/plain" },
      body,
    );
    assert.equal(opaque.status, 403, "a sandboxed frame's opaque origin");
  });

  it("refuses a cross-site form post that carries no Origin (older browsers): 403 by Sec-Fetch-Site or Referer; multipart 415", async () => {
    const body = JSON.stringify({ name: "dev/forged" });
    const { port } = new URL(url);
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ "sec-fetch-site": "cross-site", "content-type": "text/plain" }, 403, /^sec-fetch-site: /],
      [{ referer: "https://evil.example/page", "content-type": "text/plain" }, 403, /^referer: /],
      [{ "content-type": "multipart/form-data; boundary=x" }, 415, /^content-type: multipart/],
    ];
    for (const [headers, status, error] of cases) {
      const r = await rawRequest(url, "POST", "/e/any", { host: `127.0.0.1:${port}`, ...headers }, body);
      assert.equal(r.status, status, JSON.stringify(headers));
      assert.match((JSON.parse(r.body) as { error: string }).error, error);
    }
    // The UI's own writes (same origin, with a Referer of its own) and reads with a foreign Referer pass.
    const own = await rawRequest(
      url,
      "POST",
      "/e/any",
      {
        host: `127.0.0.1:${port}`,
        "sec-fetch-site": "same-origin",
        referer: `http://127.0.0.1:${port}/`,
        "content-type": "application/json",
      },
      body,
    );
    assert.equal(own.status, 200, own.body);
    const linked = await rawRequest(url, "GET", "/", {
      host: `127.0.0.1:${port}`,
      "sec-fetch-site": "same-site",
      referer: "http://localhost:3000/",
    });
    assert.equal(linked.status, 200, "a link to the UI from another local app still opens it");
  });

  it("refuses a DNS-rebound host name while it listens on loopback: 403", async () => {
    const r = await rawRequest(url, "GET", "/v1/runs", { host: `evil.example:${new URL(url).port}` });
    assert.equal(r.status, 403);
    assert.match(r.body, /not this server/);
  });

  it("still serves the UI's own requests, SDKs and curl with no key", async () => {
    const { port } = new URL(url);
    const own = await rawRequest(url, "GET", "/v1/runs", {
      origin: `http://127.0.0.1:${port}`,
      host: `127.0.0.1:${port}`,
    });
    assert.equal(own.status, 200);
    const local = await rawRequest(url, "GET", "/v1/functions", { host: `localhost:${port}` });
    assert.equal(local.status, 200);
    const sent = await fetch(`${url}/e/anything`, {
      method: "POST",
      body: JSON.stringify({ name: "dev/ok" }),
    });
    assert.equal(sent.status, 200);
  });

  it("refuses inngest/… events from clients with a 400 naming the rule, storing none of the request", async () => {
    const r = await fetch(`${url}/e/k`, {
      method: "POST",
      body: JSON.stringify([
        { name: "sec/fine" },
        { name: "inngest/function.finished", data: { correlation_id: "x", result: "forged" } },
      ]),
    });
    assert.equal(r.status, 400);
    const body = (await r.json()) as { error: string; ids: string[] };
    assert.match(body.error, /events\[1\]\.name: is reserved: names starting with "inngest\/"/);
    assert.deepEqual(body.ids, []);
  });
});
