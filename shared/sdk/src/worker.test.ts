/**
 * The NATS worker against a real nats-server: the call ⇄ answer mapping (status and headers),
 * progress messages while a step runs, signatures, the queue group, draining on close, and
 * registration over NATS (retried until a gateway answers; a rejection is reported).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Subjects, WorkerHeaders } from "@jetstep/core/protocol";
import {
  connect,
  createInbox,
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import { type NatsServerHandle, startNatsServer, waitFor } from "../../../test/support/index.ts";
import { InvalidConfigError } from "./errors.ts";
import { callBody, callSignature, memoryLogger, sha1, testClient } from "./test-helpers.ts";
import { NonRetriableError, RetryAfterError } from "./user-errors.ts";
import { type WorkerHandle, worker } from "./worker.ts";
import { answerHeaders, callRequest, headerLookup, progressHeaders } from "./worker-codec.ts";

const KEY = "signkey-test-0123456789abcdef";
const NOW_S = 1_700_000_000;

describe("worker codec (no I/O)", () => {
  it("looks headers up whatever their case, first value of a repeated one", () => {
    const h = headerLookup([
      ["X-Inngest-Signature", ["t=1&s=ab", "t=2&s=cd"]],
      ["traceparent", ["00-abc-def-01"]],
    ]);
    assert.equal(h("x-inngest-signature"), "t=1&s=ab");
    assert.equal(h("TRACEPARENT"), "00-abc-def-01");
    assert.equal(h("missing"), undefined);
  });

  it("presents a call message as the POST it stands for", async () => {
    const req = callRequest(
      "shop.billing",
      [[WorkerHeaders.query, ["fnId=shop.billing-charge&stepId=abc&compensate=def"]]],
      new TextEncoder().encode('{"x":1}'),
    );
    assert.equal(req.method, "POST");
    assert.equal(req.url.protocol, "nats:");
    assert.equal(req.url.hostname, "shop.billing");
    assert.equal(req.url.searchParams.get("fnId"), "shop.billing-charge");
    assert.equal(req.url.searchParams.get("stepId"), "abc");
    assert.equal(req.url.searchParams.get("compensate"), "def");
    assert.equal(req.header("jetstep-query"), "fnId=shop.billing-charge&stepId=abc&compensate=def");
    assert.deepEqual(await req.readBody(), { kind: "raw", text: '{"x":1}' });
  });

  it("puts the HTTP status and headers on answers, and the interval on progress messages", () => {
    assert.deepEqual(
      answerHeaders({
        status: 206,
        headers: { "x-inngest-no-retry": "false", "retry-after": "5" },
        body: "[]",
      }),
      { "x-inngest-no-retry": "false", "retry-after": "5", [WorkerHeaders.status]: "206" },
    );
    assert.deepEqual(progressHeaders(250), {
      [WorkerHeaders.status]: "100",
      [WorkerHeaders.heartbeatMs]: "250",
    });
  });
});

describe("client natsUrl", () => {
  it("comes from the option, else JETSTEP_NATS_URL, else NATS_URL; several are comma-separated", () => {
    const env = { NATS_URL: "nats://a:4222", JETSTEP_NATS_URL: "nats://b:4222, nats://c:4222" };
    assert.deepEqual(testClient({ env }).settings.natsServers, ["nats://b:4222", "nats://c:4222"]);
    assert.deepEqual(testClient({ env: { NATS_URL: "nats://a:4222" } }).settings.natsServers, [
      "nats://a:4222",
    ]);
    assert.deepEqual(testClient({ env, natsUrl: "nats://d:4222" }).settings.natsServers, ["nats://d:4222"]);
    assert.equal(testClient({ env: {} }).settings.natsServers, undefined);
  });
  it("rejects an empty entry, naming the field", () => {
    assert.throws(
      () => testClient({ natsUrl: "nats://a:4222,,nats://b:4222" }),
      (e: unknown) => e instanceof InvalidConfigError && e.field === "natsUrl",
    );
  });
});

interface Received {
  status: number;
  header: (name: string) => string | undefined;
  body: string;
}

/** Publishes a call as the executor does; `progress` fills as progress messages arrive. */
function startCall(
  nc: NatsConnection,
  appId: string,
  opts: { fnId: string; stepId?: string; body?: unknown; headers?: Record<string, string>; raw?: string },
): { progress: Received[]; answer: Promise<Received> } {
  const reply = createInbox();
  const progress: Received[] = [];
  const answer = new Promise<Received>((resolve) => {
    const sub = nc.subscribe(reply, {
      callback: (_err, m) => {
        const r = received(m);
        if (r.status === 100) progress.push(r);
        else {
          sub.unsubscribe();
          resolve(r);
        }
      },
    });
  });
  const h = natsHeaders();
  for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
  h.set(WorkerHeaders.query, `fnId=${opts.fnId}&stepId=${opts.stepId ?? "step"}`);
  nc.publish(Subjects.workerCall(appId), opts.raw ?? JSON.stringify(opts.body ?? callBody()), {
    reply,
    headers: h,
  });
  return { progress, answer };
}

async function call(
  nc: NatsConnection,
  appId: string,
  opts: Parameters<typeof startCall>[2],
): Promise<{ progress: Received[]; answer: Received }> {
  const started = startCall(nc, appId, opts);
  return { progress: started.progress, answer: await started.answer };
}

function received(m: Msg): Received {
  const header = headerLookup(m.headers);
  const status = m.headers?.code === 503 ? 503 : Number(header(WorkerHeaders.status));
  return { status, header, body: m.string() };
}

describe("NATS worker", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  const workers: WorkerHandle[] = [];
  let release: () => void = () => {};

  before(async () => {
    server = await startNatsServer({ configText: "max_payload: 65536\n" });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    for (const w of workers) await w.close();
    await nc?.close();
    await server?.stop();
  });

  const start = async (
    client = testClient({ id: "app" }),
    opts: { heartbeatMs?: number; register?: boolean } = {},
  ) => {
    const slow = client.createFunction({ id: "slow" }, { event: "t/slow" }, async ({ step }) =>
      step.run("wait", async () => {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        return "done";
      }),
    );
    const plain = client.createFunction({ id: "plain" }, { event: "t/plain" }, async ({ event }) => ({
      got: event.data,
    }));
    const refuses = client.createFunction({ id: "refuses" }, { event: "t/refuse" }, async () => {
      throw new NonRetriableError("no way");
    });
    const later = client.createFunction({ id: "later" }, { event: "t/later" }, async ({ step }) =>
      step.run("flaky", () => {
        throw new RetryAfterError("busy", 30_000);
      }),
    );
    const huge = client.createFunction({ id: "huge" }, { event: "t/huge" }, async () => "x".repeat(100_000));
    const w = await worker({
      client,
      functions: [slow, plain, refuses, later, huge],
      nc,
      register: opts.register ?? false,
      heartbeatMs: opts.heartbeatMs ?? 50,
    });
    workers.push(w);
    return w;
  };

  it("answers 200 with the function's result, with the SDK's headers", async () => {
    await start();
    const { answer } = await call(nc, "app", {
      fnId: "app-plain",
      body: callBody({ event: { name: "t/plain", data: { a: 1 } } }),
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { got: { a: 1 } });
    assert.equal(answer.header("x-inngest-framework"), "nats");
    assert.equal(answer.header("x-inngest-req-version"), "2");
  });

  it("answers a permanent failure with 400 and X-Inngest-No-Retry: true", async () => {
    const { answer } = await call(nc, "app", { fnId: "app-refuses" });
    assert.equal(answer.status, 400);
    assert.equal(answer.header("x-inngest-no-retry"), "true");
    assert.equal((JSON.parse(answer.body) as { message: string }).message, "no way");
  });

  it("answers a step error with 206, X-Inngest-No-Retry: false and Retry-After", async () => {
    const { answer } = await call(nc, "app", { fnId: "app-later" });
    assert.equal(answer.status, 206);
    assert.equal(answer.header("x-inngest-no-retry"), "false");
    assert.equal(answer.header("retry-after"), "30");
    const [op] = JSON.parse(answer.body) as { op: string; id: string }[];
    assert.equal(op?.op, "StepError");
    assert.equal(op?.id, sha1("flaky"));
  });

  it("answers an unknown function with 500 and a malformed body with 400 naming the field", async () => {
    const unknown = await call(nc, "app", { fnId: "app-nope" });
    assert.equal(unknown.answer.status, 500);
    assert.match(unknown.answer.body, /Function \\"app-nope\\" was not found/);
    const bad = await call(nc, "app", { fnId: "app-plain", raw: "{not json" });
    assert.equal(bad.answer.status, 400);
    assert.equal(bad.answer.header("x-inngest-no-retry"), "true");
    assert.match(bad.answer.body, /not JSON/);
  });

  it("sends progress messages every heartbeat while a step runs, then the answer", async () => {
    const pending = startCall(nc, "app", { fnId: "app-slow" });
    // The step returns only once three progress messages went by.
    await waitFor(() => pending.progress.length >= 3, { timeoutMs: 10_000, message: "no progress messages" });
    release();
    const answer = await pending.answer;
    const { progress } = pending;
    assert.ok(progress.length >= 3, `got ${progress.length} progress messages`);
    for (const p of progress) {
      assert.equal(p.header(WorkerHeaders.heartbeatMs), "50");
      assert.equal(p.body, "");
    }
    assert.equal(answer.status, 206);
    assert.equal((JSON.parse(answer.body) as { op: string; data: unknown }[])[0]?.data, "done");
  });

  it("fails an answer too large for max_payload clearly, without retry", async () => {
    const { answer } = await call(nc, "app", { fnId: "app-huge" });
    assert.equal(answer.status, 400);
    assert.equal(answer.header("x-inngest-no-retry"), "true");
    const error = JSON.parse(answer.body) as { name: string; message: string };
    assert.equal(error.name, "OutputTooLargeError");
    assert.match(error.message, /exceeds the NATS server's max_payload \(65536 bytes\)/);
  });

  it("verifies signatures like serve(): unsigned → 401, signed → 200", async () => {
    await start(testClient({ id: "signed", signingKey: KEY }));
    const body = JSON.stringify(callBody({ event: { name: "t/plain", data: { s: 1 } } }));
    const unsigned = await call(nc, "signed", { fnId: "signed-plain", raw: body });
    assert.equal(unsigned.answer.status, 401);
    const t = String(NOW_S);
    const signed = await call(nc, "signed", {
      fnId: "signed-plain",
      raw: body,
      headers: callSignature(KEY, "nats://signed?fnId=signed-plain&stepId=step", body, t),
    });
    assert.equal(signed.answer.status, 200);
    assert.deepEqual(JSON.parse(signed.answer.body), { got: { s: 1 } });
  });

  it("shares calls between the workers of one app (queue group)", async () => {
    const counts = [0, 0];
    const make = (i: number) => {
      const client = testClient({ id: "shared" });
      const fn = client.createFunction({ id: "who" }, { event: "t/who" }, async () => {
        counts[i] = (counts[i] ?? 0) + 1;
        return i;
      });
      return worker({ client, functions: [fn], nc, register: false, heartbeatMs: 50 });
    };
    workers.push(await make(0), await make(1));
    const answers = await Promise.all(
      Array.from({ length: 40 }, () => call(nc, "shared", { fnId: "shared-who" })),
    );
    assert.ok(answers.every((a) => a.answer.status === 200));
    assert.equal((counts[0] ?? 0) + (counts[1] ?? 0), 40, "each call ran once");
    assert.ok((counts[0] ?? 0) > 0 && (counts[1] ?? 0) > 0, `both workers served calls: ${counts}`);
  });

  it("close() finishes the calls in flight, then takes no more", async () => {
    const own = await connect({ servers: server.url });
    const client = testClient({ id: "drain" });
    let releaseDrain: () => void = () => {};
    let started = false;
    const fn = client.createFunction({ id: "hold" }, { event: "t/hold" }, async () => {
      started = true;
      await new Promise<void>((r) => {
        releaseDrain = r;
      });
      return "finished";
    });
    const w = await worker({ client, functions: [fn], nc: own, register: false, heartbeatMs: 50 });
    const pending = call(nc, "drain", { fnId: "drain-hold" });
    await waitFor(() => started, { timeoutMs: 5_000, message: "call never started" });
    let closed = false;
    const closing = w.close().then(() => {
      closed = true;
    });
    assert.equal(w.inFlight(), 1);
    assert.equal(closed, false, "close waits for the call in flight");
    releaseDrain();
    const { answer } = await pending;
    await closing;
    assert.equal(answer.status, 200);
    assert.equal(JSON.parse(answer.body), "finished");
    const after = await call(nc, "drain", { fnId: "drain-hold" });
    assert.equal(after.answer.status, 503, "nobody serves the app after close");
    await own.close();
  });

  it("connects itself to the client's natsUrl, and close() closes that connection", async () => {
    const client = testClient({ id: "own", natsUrl: server.url });
    const fn = client.createFunction({ id: "f" }, { event: "t/f" }, async () => "mine");
    const w = await worker({ client, functions: [fn], register: false, heartbeatMs: 50 });
    const { answer } = await call(nc, "own", { fnId: "own-f" });
    assert.equal(JSON.parse(answer.body), "mine");
    await w.close();
    const gone = await call(nc, "own", { fnId: "own-f" });
    assert.equal(gone.answer.status, 503);
  });

  it("rejects bad options naming the field", async () => {
    const client = testClient({ id: "opts" });
    await assert.rejects(
      worker({ client, functions: [], nc, heartbeatMs: 0 }),
      (e: unknown) => e instanceof InvalidConfigError && e.field === "heartbeatMs",
    );
    await assert.rejects(
      worker({ client, functions: [], nc, servers: server.url }),
      (e: unknown) => e instanceof InvalidConfigError && e.field === "servers",
    );
    await assert.rejects(
      worker({ client, functions: [{} as never], nc }),
      (e: unknown) => e instanceof InvalidConfigError && e.field === "functions.0",
    );
    for (const maxInFlight of [0, 1.5, -1])
      await assert.rejects(
        worker({ client, functions: [], nc, maxInFlight }),
        (e: unknown) => e instanceof InvalidConfigError && e.field === "maxInFlight",
      );
  });

  it("answers busy beyond maxInFlight without starting the call, and takes calls again once one ends", async () => {
    const client = testClient({ id: "capped" });
    let started = 0;
    let release: () => void = () => {};
    const fn = client.createFunction({ id: "hold" }, { event: "t/hold" }, async () => {
      started++;
      await new Promise<void>((r) => {
        release = r;
      });
      return "done";
    });
    const w = await worker({ client, functions: [fn], nc, register: false, heartbeatMs: 50, maxInFlight: 1 });
    workers.push(w);
    const first = call(nc, "capped", { fnId: "capped-hold" });
    await waitFor(() => started === 1, { timeoutMs: 5_000, message: "first call never started" });
    const second = await call(nc, "capped", { fnId: "capped-hold" });
    assert.equal(second.answer.status, 429, "busy");
    assert.deepEqual(second.progress, [], "no progress: the call was not started");
    assert.equal(started, 1);
    assert.equal(w.inFlight(), 1);
    release();
    assert.equal((await first).answer.status, 200);
    const third = call(nc, "capped", { fnId: "capped-hold" });
    await waitFor(() => started === 2, {
      timeoutMs: 5_000,
      message: "a call after the first ended never started",
    });
    release();
    assert.equal((await third).answer.status, 200);
  });
});

describe("registration over NATS", () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  const subs: Subscription[] = [];

  before(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    for (const s of subs) s.unsubscribe();
    await nc?.close();
    await server?.stop();
  });

  const gateway = (answer: (body: Record<string, unknown>) => unknown) => {
    const requests: { body: Record<string, unknown>; authorization: string | undefined }[] = [];
    subs.push(
      nc.subscribe(Subjects.workerRegister, {
        callback: (_e, m) => {
          const body = m.json<Record<string, unknown>>();
          requests.push({ body, authorization: headerLookup(m.headers)("authorization") });
          m.respond(JSON.stringify(answer(body)));
        },
      }),
    );
    return requests;
  };

  it("retries until a gateway answers, sending the HTTP register body with the hashed key", async () => {
    const lines: { level: string; bindings: Record<string, unknown>; args: unknown[] }[] = [];
    const client = testClient({ id: "reg", signingKey: KEY, logger: memoryLogger(lines) });
    const fn = client.createFunction({ id: "f", retries: 2 }, { event: "t/f" }, async () => 1);
    const w = await worker({ client, functions: [fn], nc, heartbeatMs: 50 });
    // Nobody listens yet: the worker keeps retrying and says why.
    await waitFor(
      () => lines.some((l) => l.level === "warn" && /no gateway is listening/.test(String(l.args[1]))),
      {
        timeoutMs: 10_000,
        message: "no warning about the missing gateway",
      },
    );
    const requests = gateway(() => ({ ok: true, modified: true, status: 200 }));
    assert.deepEqual(await w.registered, { ok: true, modified: true });
    const [first] = requests;
    assert.equal(first?.body.url, "nats://reg");
    assert.equal(first?.body.appName, "reg");
    assert.equal(first?.body.framework, "nats");
    assert.match(first?.authorization ?? "", /^Bearer signkey-test-[0-9a-f]{64}$/);
    const [f] = (first?.body.functions ?? []) as {
      id: string;
      steps: { step: { runtime: unknown; retries: unknown } };
    }[];
    assert.equal(f?.id, "reg-f");
    assert.deepEqual(f?.steps.step.runtime, { type: "nats", url: "nats://reg?fnId=reg-f&stepId=step" });
    assert.deepEqual(f?.steps.step.retries, { attempts: 2 });

    // A gateway that starts later asks every worker to register again.
    const before = requests.length;
    nc.publish(Subjects.workerSync);
    await waitFor(() => requests.length > before, { timeoutMs: 10_000, message: "no re-registration" });
    await w.close();
    subs.pop()?.unsubscribe();
  });

  it("reports a rejection with the gateway's error and stops retrying", async () => {
    const lines: { level: string; bindings: Record<string, unknown>; args: unknown[] }[] = [];
    const requests = gateway(() => ({ status: 400, error: "functions.0.triggers.0.expression: bad CEL" }));
    const client = testClient({ id: "rejected", logger: memoryLogger(lines) });
    const fn = client.createFunction({ id: "f" }, { event: "t/f" }, async () => 1);
    const w = await worker({ client, functions: [fn], nc, heartbeatMs: 50 });
    assert.deepEqual(await w.registered, {
      ok: false,
      status: 400,
      error: "functions.0.triggers.0.expression: bad CEL",
    });
    assert.equal(requests.length, 1);
    assert.ok(
      lines.some(
        (l) => l.level === "error" && /registration rejected: functions\.0\.triggers/.test(String(l.args[1])),
      ),
    );
    await w.close();
    subs.pop()?.unsubscribe();
  });
});
