import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalJson } from "./canonical-json.ts";
import {
  type FastifyLikeInstance,
  type FastifyLikeReply,
  fastifyPlugin,
  serveFastify,
} from "./serve-fastify.ts";
import { callBody, callSignature, testClient } from "./test-helpers.ts";

const key = `signkey-test-${"ab".repeat(32)}`;
const client = testClient({ signingKey: key });
const fn = client.createFunction({ id: "echo" }, { event: "test/event" }, async ({ event }) => event.data);
const body = callBody();
const t = String(Math.floor(client.now() / 1000));

describe("fastify plugin with a structural fake instance", () => {
  test("registers GET/PUT/POST at the path and answers through the reply", async () => {
    let route: Parameters<FastifyLikeInstance["route"]>[0] | undefined;
    const instance: FastifyLikeInstance = { route: (r) => (route = r) };
    await fastifyPlugin(instance, { client, functions: [fn], path: "/jobs" });
    assert.deepEqual(route?.method, ["GET", "PUT", "POST"]);
    assert.equal(route?.url, "/jobs");
    const sent: { status?: number; headers?: Record<string, string>; payload?: unknown } = {};
    const reply: FastifyLikeReply = {
      code(s) {
        sent.status = s;
        return reply;
      },
      headers(h) {
        sent.headers = h;
        return reply;
      },
      send(p) {
        sent.payload = p;
      },
    };
    // a body parsed by fastify's default JSON parser, signed over its JCS form
    await route?.handler(
      {
        method: "POST",
        url: "/jobs?fnId=app-echo&stepId=step",
        headers: {
          host: "app.local",
          ...callSignature(key, "/jobs?fnId=app-echo&stepId=step", canonicalJson(body), t),
        },
        body,
      },
      reply,
    );
    assert.equal(sent.status, 200);
    assert.equal(sent.headers?.["x-inngest-framework"], "fastify");
    assert.deepEqual(JSON.parse(String(sent.payload)), { userId: "u1" });
  });
});

describe("with real fastify (workspace dev dependency)", async () => {
  let Fastify: ((opts?: object) => unknown) | undefined;
  try {
    Fastify = ((await import("fastify")) as unknown as { default: (opts?: object) => unknown }).default;
  } catch {
    Fastify = undefined;
  }
  test("raw body reaches the handler, signature over raw bytes verifies", {
    skip: Fastify ? false : "fastify not installed",
  }, async () => {
    type App = FastifyLikeInstance & {
      register(plugin: unknown, opts?: unknown): Promise<void>;
      inject(
        opts: object,
      ): Promise<{ statusCode: number; headers: Record<string, unknown>; json(): unknown }>;
      close(): Promise<void>;
    };
    const app = (Fastify as (opts?: object) => App)({ logger: false });
    await app.register(serveFastify({ client, functions: [fn] }));
    try {
      const raw = JSON.stringify(body);
      const ok = await app.inject({
        method: "POST",
        url: "/api/inngest?fnId=app-echo&stepId=step",
        headers: {
          "content-type": "application/json",
          ...callSignature(key, "/api/inngest?fnId=app-echo&stepId=step", raw, t),
        },
        payload: raw,
      });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { userId: "u1" });
      const bad = await app.inject({
        method: "POST",
        url: "/api/inngest?fnId=app-echo",
        headers: { "content-type": "application/json", "x-jetstep-signature": `t=${t}&s=00` },
        payload: raw,
      });
      assert.equal(bad.statusCode, 401);
      const malformed = await app.inject({
        method: "POST",
        url: "/api/inngest?fnId=app-echo",
        headers: {
          "content-type": "application/json",
          ...callSignature(key, "/api/inngest?fnId=app-echo", "{nope", t),
        },
        payload: "{nope",
      });
      assert.equal(malformed.statusCode, 400);
      const get = await app.inject({ method: "GET", url: "/api/inngest" });
      assert.equal(get.statusCode, 200);
      assert.equal(get.headers["x-inngest-framework"], "fastify");
    } finally {
      await app.close();
    }
  });
});
