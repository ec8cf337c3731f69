/**
 * `registerApiAuth` on a bare fastify app whose routes answer 200: who gets through to which route,
 * and what the refused see (status, `error`, `www-authenticate`). The routes' own answers are
 * tested in the other files.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hashSigningKey } from "@jetstep/core";
import Fastify, { type FastifyInstance, type InjectOptions } from "fastify";
import { type ApiAuthConfig, authRequired, isLoopbackBind, registerApiAuth } from "./api-auth.ts";

const SIGNING_KEY = "signkey-prod-0123456789abcdef";
const API_KEY = "operate-key-0123456789";
const READ_KEY = "read-only-key-0123456789";

/** A route per kind of access, each answering 200 `{ route }`. */
const ROUTES: [string, string][] = [
  ["GET", "/v1/runs"],
  ["GET", "/v1/runs/:id"],
  ["DELETE", "/v1/runs/:id"],
  ["POST", "/v1/cancellations"],
  ["POST", "/v1/events"],
  ["POST", "/e/:key"],
  ["POST", "/fn/register"],
  ["POST", "/v1/checkpoint"],
  ["POST", "/v1/checkpoint/:runId/async"],
  ["GET", "/v1/http/runs/:runId/output"],
  ["GET", "/v1/realtime/sse"],
  ["GET", "/"],
  ["GET", "/ui/*"],
];

async function authApp(config: ApiAuthConfig): Promise<FastifyInstance> {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));
  registerApiAuth(app, config);
  for (const [method, url] of ROUTES)
    app.route({ method: method as "GET", url, handler: async () => ({ route: `${method} ${url}` }) });
  await app.ready();
  return app;
}

interface Answer {
  status: number;
  error: string | undefined;
  headers: Record<string, unknown>;
}

async function send(app: FastifyInstance, opts: InjectOptions): Promise<Answer> {
  const res = await app.inject(opts);
  const body = res.body === "" ? {} : (res.json() as { error?: string });
  return { status: res.statusCode, error: body.error, headers: res.headers };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe("API auth in dev (no credential configured)", () => {
  let app: FastifyInstance;
  before(async () => {
    app = await authApp({ host: "127.0.0.1" });
  });
  after(() => app.close());

  it("needs no credential to read or operate", async () => {
    assert.equal(authRequired({}), false);
    assert.equal((await send(app, { method: "GET", url: "/v1/runs" })).status, 200);
    assert.equal((await send(app, { method: "DELETE", url: "/v1/runs/01ABC" })).status, 200);
    assert.equal((await send(app, { method: "POST", url: "/v1/cancellations", body: "{}" })).status, 200);
  });

  it("listening on loopback, refuses a Host that is not a loopback name (DNS rebinding): 403", async () => {
    assert.equal(isLoopbackBind("127.0.0.1"), true);
    assert.equal(isLoopbackBind("0.0.0.0"), false);
    const rebound = await send(app, {
      method: "GET",
      url: "/v1/runs",
      headers: { host: "evil.example:8288" },
    });
    assert.equal(rebound.status, 403);
    assert.equal(rebound.error, 'host: "evil.example" is not this server (it listens on loopback only)');
    for (const host of ["localhost:8288", "127.0.0.1:8288", "[::1]:8288", "app.localhost", "LOCALHOST"])
      assert.equal(
        (await send(app, { method: "GET", url: "/v1/runs", headers: { host } })).status,
        200,
        host,
      );
  });

  it("refuses what a browser sends from another site: Origin, Sec-Fetch-Site, Referer (403)", async () => {
    const host = "localhost:8288";
    const cases: [Record<string, string>, string, RegExp][] = [
      [
        { origin: "https://evil.example" },
        "GET",
        /^origin: requests from https:\/\/evil\.example are not accepted/,
      ],
      [{ origin: "not a url" }, "GET", /^origin: requests from not a url are not accepted \(cross-site\)$/],
      [{ origin: "null" }, "GET", /^origin: requests from an opaque origin are not accepted$/],
      [
        { "sec-fetch-site": "cross-site" },
        "POST",
        /^sec-fetch-site: requests from another site \(cross-site\)/,
      ],
      [
        { "sec-fetch-site": "same-site" },
        "POST",
        /^sec-fetch-site: requests from another site \(same-site\)/,
      ],
      [{ referer: "https://evil.example/page" }, "POST", /^referer: requests from pages of another site/],
    ];
    for (const [headers, method, re] of cases) {
      const url = method === "GET" ? "/v1/runs" : "/v1/cancellations";
      const r = await send(app, { method: method as "GET", url, headers: { host, ...headers }, body: "{}" });
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.match(r.error ?? "", re);
    }
    // The same site, and reads without an Origin (a page cannot read the answer without CORS).
    const same = await send(app, {
      method: "POST",
      url: "/v1/cancellations",
      headers: { host, origin: `http://${host}`, referer: `http://${host}/ui/` },
      body: "{}",
    });
    assert.equal(same.status, 200);
    const read = await send(app, {
      method: "GET",
      url: "/v1/runs",
      headers: { host, "sec-fetch-site": "cross-site" },
    });
    assert.equal(read.status, 200);
  });

  it("refuses a multipart body (what only a form sends) with 415", async () => {
    const r = await send(app, {
      method: "POST",
      url: "/e/key",
      headers: { "content-type": "multipart/form-data; boundary=x" },
      body: "--x--",
    });
    assert.equal(r.status, 415);
    assert.equal(r.error, "content-type: multipart/form-data is not accepted; send JSON (application/json)");
  });
});

describe("API auth in start mode (signing key, API keys)", () => {
  let app: FastifyInstance;
  const config: ApiAuthConfig = {
    signingKey: SIGNING_KEY,
    apiKeys: [API_KEY],
    readApiKeys: [READ_KEY],
    host: "127.0.0.1",
    corsOrigins: ["https://shop.example.com"],
  };
  before(async () => {
    app = await authApp(config);
  });
  after(() => app.close());

  it("refuses a read and an operation without a credential: 401 saying what to send", async () => {
    assert.equal(authRequired(config), true);
    assert.equal(authRequired({ readApiKeys: [READ_KEY] }), true);
    for (const [method, url] of [
      ["GET", "/v1/runs"],
      ["HEAD", "/v1/runs"],
      ["DELETE", "/v1/runs/01ABC"],
      ["POST", "/v1/events"],
    ] as const) {
      const r = await app.inject({ method, url, body: method === "POST" ? "{}" : undefined });
      assert.equal(r.statusCode, 401, `${method} ${url}`);
      assert.equal(r.headers["www-authenticate"], 'Bearer realm="jetstep"');
      if (method !== "HEAD")
        assert.deepEqual(r.json(), {
          status: 401,
          error: "authorization: send Authorization: Bearer <API key>",
        });
    }
    const notBearer = await send(app, {
      method: "GET",
      url: "/v1/runs",
      headers: { authorization: `Basic ${API_KEY}` },
    });
    assert.equal(notBearer.status, 401);
    assert.match(notBearer.error ?? "", /^authorization: send Authorization: Bearer/);
  });

  it("refuses an unknown key with 401 and invalid_token", async () => {
    const r = await send(app, { method: "GET", url: "/v1/runs", headers: bearer("not-a-key") });
    assert.equal(r.status, 401);
    assert.equal(r.error, "authorization: unknown API key");
    assert.equal(r.headers["www-authenticate"], 'Bearer realm="jetstep", error="invalid_token"');
  });

  it("lets an API key and the signing key (raw or hashed) read and operate", async () => {
    for (const key of [API_KEY, SIGNING_KEY, hashSigningKey(SIGNING_KEY)]) {
      assert.equal((await send(app, { method: "GET", url: "/v1/runs", headers: bearer(key) })).status, 200);
      const del = await send(app, { method: "DELETE", url: "/v1/runs/01ABC", headers: bearer(key) });
      assert.equal(del.status, 200, key);
    }
    const lower = await send(app, {
      method: "GET",
      url: "/v1/runs",
      headers: { authorization: `bearer  ${API_KEY} ` },
    });
    assert.equal(lower.status, 200, "the scheme is case-insensitive and the key trimmed");
  });

  it("lets a read-only key read but not operate (403)", async () => {
    assert.equal(
      (await send(app, { method: "GET", url: "/v1/runs/01ABC", headers: bearer(READ_KEY) })).status,
      200,
    );
    for (const [method, url] of [
      ["DELETE", "/v1/runs/01ABC"],
      ["POST", "/v1/cancellations"],
      ["POST", "/v1/events"],
    ] as const) {
      const r = await send(app, {
        method,
        url,
        headers: bearer(READ_KEY),
        body: method === "POST" ? "{}" : undefined,
      });
      assert.equal(r.status, 403, `${method} ${url}`);
      assert.equal(r.error, "authorization: this API key may only read (GET)");
    }
  });

  it("keeps open the routes that prove the caller themselves, and the UI's files", async () => {
    for (const [method, url] of [
      ["POST", "/e/some-event-key"],
      ["POST", "/fn/register"],
      ["POST", "/v1/checkpoint"],
      ["POST", "/v1/checkpoint/01ABC/async"],
      ["GET", "/v1/http/runs/01ABC/output?token=t"],
      ["GET", "/v1/realtime/sse?token=t"],
      ["GET", "/"],
      ["GET", "/ui/app.js"],
    ] as const) {
      const r = await send(app, { method, url, body: method === "POST" ? "{}" : undefined });
      assert.equal(r.status, 200, `${method} ${url}: ${r.error}`);
    }
  });

  it("with credentials, does not check the Host (a reverse proxy's public name)", async () => {
    const r = await send(app, {
      method: "GET",
      url: "/v1/runs",
      headers: { host: "jetstep.example.com", ...bearer(API_KEY) },
    });
    assert.equal(r.status, 200);
  });

  it("answers CORS for the allowed sites' events only; other cross-site requests get 403", async () => {
    const origin = "https://shop.example.com";
    const preflight = await app.inject({ method: "OPTIONS", url: "/e/some-event-key", headers: { origin } });
    assert.equal(preflight.statusCode, 204);
    assert.equal(preflight.headers["access-control-allow-origin"], origin);
    assert.equal(preflight.headers["access-control-allow-methods"], "POST");
    const sent = await app.inject({
      method: "POST",
      url: "/e/some-event-key",
      headers: { origin },
      body: "{}",
    });
    assert.equal(sent.statusCode, 200);
    assert.equal(sent.headers["access-control-allow-origin"], origin);
    const api = await send(app, { method: "GET", url: "/v1/runs", headers: { origin, ...bearer(API_KEY) } });
    assert.equal(api.status, 403);
    assert.match(api.error ?? "", /^origin: requests from https:\/\/shop\.example\.com are not accepted/);
    const other = await send(app, {
      method: "POST",
      url: "/e/some-event-key",
      headers: { origin: "https://evil.example" },
      body: "{}",
    });
    assert.equal(other.status, 403);
    assert.equal(other.headers["access-control-allow-origin"], undefined);
    // A durable endpoint's output is followed from any page: its token guards it.
    const output = await send(app, {
      method: "GET",
      url: "/v1/http/runs/01ABC/output?token=t",
      headers: { origin: "https://evil.example" },
    });
    assert.equal(output.status, 200);
  });
});
