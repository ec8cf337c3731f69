import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RegisterBody } from "./register.ts";
import { serve } from "./serve-node.ts";
import { callBody, fakeGateway, listen, memoryLogger, testClient } from "./test-helpers.ts";

describe("serve() for node:http over loopback", () => {
  let gateway: Awaited<ReturnType<typeof fakeGateway>>;
  let app: Awaited<ReturnType<typeof listen>>;
  let registerReply = { status: 200, body: { ok: true, modified: true } as unknown };

  before(async () => {
    gateway = await fakeGateway(() => registerReply);
    const client = testClient({ baseUrl: gateway.url, signingKey: undefined, logger: memoryLogger() });
    const welcome = client.createFunction(
      {
        id: "send-welcome-email",
        name: "Send welcome email",
        retries: 2,
        concurrency: { limit: 5, key: "event.data.userId" },
        throttle: { limit: 1, period: "1m" },
        rateLimit: { limit: 10, period: "1h", key: "event.data.userId" },
        debounce: { period: "5s" },
        priority: { run: "event.data.priority" },
        batchEvents: { maxSize: 10, timeout: "5s" },
        idempotency: "event.data.id",
        timeouts: { start: "1m", finish: "1h" },
        cancelOn: [
          { event: "user/deleted", match: "data.userId", timeout: "1d" },
          { event: "user/banned", if: "async.data.x == 1" },
        ],
        onFailure: () => "cleanup",
      },
      [{ event: "user/signup", if: "event.data.plan == 'pro'" }, { cron: "TZ=Europe/Paris 0 9 * * *" }],
      async ({ step }) => step.run("s1", () => "done"),
    );
    const plain = client.createFunction({ id: "plain" }, { event: "x/y" }, async ({ event }) => event.data);
    app = await listen(serve({ client, functions: [welcome, plain] }));
  });
  after(async () => {
    await app.close();
    await gateway.close();
  });

  test("POST executes and answers per protocol", async () => {
    const res = await fetch(`${app.url}/api/inngest?fnId=app-send-welcome-email&stepId=step`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(callBody()),
    });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("x-inngest-framework"), "nodejs");
    const ops = (await res.json()) as { op: string; data: unknown }[];
    assert.deepEqual(
      ops.map((o) => [o.op, o.data]),
      [["StepRun", "done"]],
    );
  });

  test("GET introspects", async () => {
    const res = await fetch(`${app.url}/api/inngest`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { function_count: number }).function_count, 3);
  });

  test("PUT posts the register body to {baseUrl}/fn/register", async () => {
    gateway.received.length = 0;
    registerReply = { status: 200, body: { ok: true, modified: true } };
    const res = await fetch(`${app.url}/api/inngest`, { method: "PUT" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: "Successfully registered", modified: true });
    assert.equal(res.headers.get("x-inngest-sync-kind"), "out_of_band");
    assert.equal(gateway.received.length, 1);
    const [req] = gateway.received;
    assert.equal(req?.method, "POST");
    assert.equal(req?.url, "/fn/register");
    assert.equal(req?.headers["content-type"], "application/json");
    assert.match(String(req?.headers["x-inngest-sdk"]), /^js:jetstep-v/);
    assert.equal(req?.headers.authorization, undefined);
    const body = JSON.parse(req?.body ?? "") as RegisterBody;
    const url = `${app.url}/api/inngest`;
    assert.deepEqual(body, {
      url,
      deployType: "ping",
      framework: "nodejs",
      appName: "app",
      sdk: body.sdk,
      v: "0.1",
      functions: [
        {
          id: "app-send-welcome-email",
          name: "Send welcome email",
          triggers: [
            { event: "user/signup", expression: "event.data.plan == 'pro'" },
            { cron: "TZ=Europe/Paris 0 9 * * *" },
          ],
          steps: {
            step: {
              id: "step",
              name: "step",
              runtime: { type: "http", url: `${url}?fnId=app-send-welcome-email&stepId=step` },
              retries: { attempts: 2 },
            },
          },
          concurrency: { limit: 5, key: "event.data.userId" },
          throttle: { limit: 1, period: "1m" },
          rateLimit: { limit: 10, period: "1h", key: "event.data.userId" },
          debounce: { period: "5s" },
          priority: { run: "event.data.priority" },
          batchEvents: { maxSize: 10, timeout: "5s" },
          idempotency: "event.data.id",
          timeouts: { start: "1m", finish: "1h" },
          cancel: [
            { event: "user/deleted", timeout: "1d", if: "event.data.userId == async.data.userId" },
            { event: "user/banned", if: "async.data.x == 1" },
          ],
        },
        {
          id: "app-send-welcome-email-failure",
          name: "Send welcome email (failure)",
          triggers: [
            {
              event: "inngest/function.failed",
              expression: "event.data.function_id == 'app-send-welcome-email'",
            },
          ],
          steps: {
            step: {
              id: "step",
              name: "step",
              runtime: { type: "http", url: `${url}?fnId=app-send-welcome-email-failure&stepId=step` },
              retries: { attempts: 1 },
            },
          },
        },
        {
          id: "app-plain",
          name: "plain",
          triggers: [{ event: "x/y" }],
          steps: {
            step: {
              id: "step",
              name: "step",
              runtime: { type: "http", url: `${url}?fnId=app-plain&stepId=step` },
              retries: { attempts: 4 },
            },
          },
        },
      ],
    });
  });

  test("a rejected sync relays the gateway's status and error", async () => {
    registerReply = { status: 400, body: { error: "functions.0.triggers: required" } };
    const res = await fetch(`${app.url}/api/inngest`, { method: "PUT" });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { message: "functions.0.triggers: required", modified: false });
  });
});

describe("sync details", () => {
  test("serveOrigin and servePath override the advertised URL; deployId and signing key are forwarded", async () => {
    const gateway = await fakeGateway(() => ({ status: 200, body: { ok: true, modified: false } }));
    const client = testClient({ baseUrl: gateway.url, signingKey: "signkey-prod-00" });
    const fn = client.createFunction({ id: "f" }, { event: "a" }, () => 1);
    const app = await listen(
      serve({ client, functions: [fn], serveOrigin: "https://app.example.com", servePath: "/jobs" }),
    );
    try {
      const res = await fetch(`${app.url}/api/inngest?deployId=d-1`, { method: "PUT" });
      assert.equal(res.status, 200);
      const [req] = gateway.received;
      assert.equal(req?.url, "/fn/register?deployId=d-1");
      assert.equal(
        req?.headers.authorization,
        "Bearer signkey-prod-6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      );
      const body = JSON.parse(req?.body ?? "") as RegisterBody;
      assert.equal(body.url, "https://app.example.com/jobs");
      assert.equal(
        body.functions[0]?.steps.step.runtime.url,
        "https://app.example.com/jobs?fnId=app-f&stepId=step",
      );
    } finally {
      await app.close();
      await gateway.close();
    }
  });
  test("an oversized body is refused with 413", async () => {
    const client = testClient();
    const fn = client.createFunction({ id: "f" }, { event: "a" }, () => 1);
    const app = await listen(serve({ client, functions: [fn], maxBodyBytes: 100 }));
    try {
      const res = await fetch(`${app.url}/api/inngest?fnId=app-f`, {
        method: "POST",
        body: "x".repeat(5000),
      });
      assert.equal(res.status, 413);
    } finally {
      await app.close();
    }
  });
  test("an unreachable gateway gives 500 with the reason", async () => {
    const dead = await listen(() => {});
    const deadUrl = dead.url;
    await dead.close();
    const client = testClient({ baseUrl: deadUrl });
    const fn = client.createFunction({ id: "f" }, { event: "a" }, () => 1);
    const app = await listen(serve({ client, functions: [fn] }));
    try {
      const res = await fetch(`${app.url}/api/inngest`, { method: "PUT" });
      assert.equal(res.status, 500);
      assert.match(((await res.json()) as { message: string }).message, /Failed to register/);
    } finally {
      await app.close();
    }
  });
});
