/**
 * Calls to NATS workers against a real nats-server, with hand-written workers: what a call
 * carries, how answers and progress messages are read, and each transport failure's message.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Subjects, WorkerHeaders } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { headers, type Msg, type Subscription } from "@nats-io/transport-node";
import { type NatsServerHandle, startNatsServer } from "../../../test/support/index.ts";
import { callWorker } from "./nats-app-client.ts";

describe("callWorker", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let worker: Nats;
  const subs: Subscription[] = [];

  before(async () => {
    server = await startNatsServer({ configText: "max_payload: 65536\n" });
    nats = await connectNats({ servers: server.url });
    worker = await connectNats({ servers: server.url });
  });
  after(async () => {
    for (const s of subs) s.unsubscribe();
    await worker?.close();
    await nats?.close();
    await server?.stop();
  });

  const serveApp = (appId: string, onCall: (m: Msg) => void) => {
    const sub = worker.nc.subscribe(Subjects.workerCall(appId), { callback: (_e, m) => onCall(m) });
    subs.push(sub);
    return worker.nc.flush();
  };
  const send = (m: Msg, status: number, body = "", extra: Record<string, string> = {}) => {
    const h = headers();
    h.set(WorkerHeaders.status, String(status));
    for (const [k, v] of Object.entries(extra)) h.set(k, v);
    m.respond(body, { headers: h });
  };
  const opts = (more: { heartbeatMisses?: number; timeoutMs?: number } = {}) => ({
    nats,
    timeoutMs: more.timeoutMs ?? 30_000,
    now: () => 1_700_000_000_000,
    ...(more.heartbeatMisses !== undefined ? { heartbeatMisses: more.heartbeatMisses } : {}),
  });

  it("sends the body, the HTTP headers and the query, and reads a 206 answer as ops", async () => {
    const seen: { body: string; header: (n: string) => string | undefined }[] = [];
    await serveApp("ops-app", (m) => {
      seen.push({ body: m.string(), header: (n) => m.headers?.get(n) });
      send(m, 206, JSON.stringify([{ id: "abc", op: "StepRun", data: 7 }]), { "retry-after": "5" });
    });
    const answer = await callWorker(
      new URL("nats://ops-app?fnId=ops-app-f&stepId=abc"),
      '{"event":{}}',
      {
        "x-inngest-signature": "t=1&s=ff",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      },
      opts(),
    );
    assert.equal(answer.kind, "ops");
    assert.deepEqual(answer.kind === "ops" ? answer.ops.map((o) => [o.op, o.data]) : [], [["StepRun", 7]]);
    assert.equal(answer.kind === "ops" ? answer.retryAfterMs : undefined, 5_000);
    assert.equal(seen[0]?.body, '{"event":{}}');
    assert.equal(seen[0]?.header(WorkerHeaders.query), "fnId=ops-app-f&stepId=abc");
    assert.equal(seen[0]?.header("x-inngest-signature"), "t=1&s=ff");
    assert.equal(seen[0]?.header("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  });

  it("reads 200 as a result and 400 + X-Inngest-No-Retry as a permanent error", async () => {
    await serveApp("mixed", (m) => {
      const fnId = new URLSearchParams(m.headers?.get(WorkerHeaders.query)).get("fnId");
      if (fnId === "mixed-ok") send(m, 200, '{"total":3}');
      else send(m, 400, '{"name":"NonRetriableError","message":"nope"}', { "x-inngest-no-retry": "true" });
    });
    const ok = await callWorker(new URL("nats://mixed?fnId=mixed-ok&stepId=step"), "{}", {}, opts());
    assert.deepEqual(ok, { kind: "result", data: { total: 3 } });
    const bad = await callWorker(new URL("nats://mixed?fnId=mixed-bad&stepId=step"), "{}", {}, opts());
    assert.equal(bad.kind, "error");
    assert.equal(bad.kind === "error" ? bad.noRetry : undefined, true);
    assert.equal(bad.kind === "error" ? bad.error.message : undefined, "nope");
  });

  it("waits past the silence window while progress messages keep coming", async () => {
    let beats = 0;
    await serveApp("patient", (m) => {
      const timer = setInterval(() => {
        beats++;
        if (beats < 12) send(m, 100, "", { [WorkerHeaders.heartbeatMs]: "50" });
        else {
          clearInterval(timer);
          send(m, 200, '"late but alive"');
        }
      }, 50);
    });
    const answer = await callWorker(
      new URL("nats://patient?fnId=patient-f&stepId=step"),
      "{}",
      {},
      opts({ heartbeatMisses: 5 }),
    );
    assert.deepEqual(answer, { kind: "result", data: "late but alive" });
  });

  it("gives up on a worker that stops sending progress messages, naming the app", async () => {
    await serveApp("vanishing", (m) => send(m, 100, "", { [WorkerHeaders.heartbeatMs]: "20" }));
    const answer = await callWorker(
      new URL("nats://vanishing?fnId=vanishing-f&stepId=step"),
      "{}",
      {},
      opts({ heartbeatMisses: 3 }),
    );
    assert.deepEqual(answer, {
      kind: "transport",
      message: 'worker for app "vanishing" stopped answering (no message for 60 ms)',
      failure: "timeout",
    });
  });

  it("sends a call turned down as busy again, without a failure, until a worker takes it", async () => {
    let calls = 0;
    await serveApp("busy-app", (m) => {
      calls++;
      if (calls <= 3) send(m, 429);
      else send(m, 200, JSON.stringify("took it"));
    });
    const answer = await callWorker(
      new URL("nats://busy-app?fnId=f"),
      "{}",
      {},
      opts({ heartbeatMisses: 1 }),
    );
    assert.deepEqual(answer, { kind: "result", data: "took it" });
    assert.equal(calls, 4, "sent again after each busy answer");
  });

  it("gives up on an app whose workers stay busy at the overall timeout, saying so", async () => {
    let calls = 0;
    await serveApp("full-app", (m) => {
      calls++;
      send(m, 429);
    });
    const answer = await callWorker(new URL("nats://full-app?fnId=f"), "{}", {}, opts({ timeoutMs: 400 }));
    assert.equal(answer.kind, "transport");
    assert.match(
      (answer as { message: string }).message,
      /no worker of app "full-app" was free within 400 ms \(each answered busy/,
    );
    assert.ok(calls >= 3 && calls <= 10, `resent with backoff, not in a tight loop (${calls} sends)`);
  });

  it("reports no responders as no worker serving the app", async () => {
    const answer = await callWorker(new URL("nats://nobody?fnId=nobody-f&stepId=step"), "{}", {}, opts());
    assert.deepEqual(answer, {
      kind: "transport",
      message: 'no worker is serving app "nobody" (nothing subscribed to jetstep.call.nobody)',
      failure: "unreachable",
    });
  });

  it("reports a call over max_payload clearly, and the overall timeout", async () => {
    const big = await callWorker(
      new URL("nats://any?fnId=any-f&stepId=step"),
      JSON.stringify({ blob: "x".repeat(70_000) }),
      {},
      opts(),
    );
    assert.equal(big.kind, "transport");
    assert.match(
      big.kind === "transport" ? big.message : "",
      /call to app "any" is too large for NATS: over the server's max_payload of 65536 bytes/,
    );
    await serveApp("slowpoke", (m) => {
      const timer = setInterval(() => send(m, 100, "", { [WorkerHeaders.heartbeatMs]: "20" }), 20);
      subs.push({ unsubscribe: () => clearInterval(timer) } as unknown as Subscription);
    });
    // Its heartbeats (every 20 ms) keep it alive; the silence allowed (50 missed: 1 s) is far
    // beyond the overall timeout, so a test process starved for a moment under load (3 missed,
    // 60 ms, was seen) does not take the worker for gone first.
    const slow = await callWorker(
      new URL("nats://slowpoke?fnId=slowpoke-f&stepId=step"),
      "{}",
      {},
      opts({ timeoutMs: 200, heartbeatMisses: 50 }),
    );
    assert.deepEqual(slow, {
      kind: "transport",
      message: "app did not answer within 200 ms (nats://slowpoke?fnId=slowpoke-f&stepId=step)",
      failure: "timeout",
    });
  });

  it("rejects an answer without a valid status, and a URL without an app id", async () => {
    await serveApp("broken", (m) => m.respond('{"x":1}'));
    const answer = await callWorker(new URL("nats://broken?fnId=broken-f&stepId=step"), "{}", {}, opts());
    assert.deepEqual(answer, {
      kind: "transport",
      message: 'worker for app "broken" answered without a Jetstep-Status header',
      failure: "bad_response",
    });
    const noApp = await callWorker(new URL("nats:?fnId=x"), "{}", {}, opts());
    assert.equal(noApp.kind, "transport");
    assert.match(noApp.kind === "transport" ? noApp.message : "", /invalid worker URL/);
  });

  it("uses one reply subscription for all calls of a connection", async () => {
    const replies: string[] = [];
    await serveApp("many", (m) => {
      replies.push(m.reply ?? "");
      send(m, 200, "1");
    });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        callWorker(new URL("nats://many?fnId=many-f&stepId=step"), "{}", {}, opts()),
      ),
    );
    assert.ok(answers.every((a) => a.kind === "result"));
    const prefixes = new Set(replies.map((r) => r.slice(0, r.lastIndexOf("."))));
    assert.equal(prefixes.size, 1, `reply subjects share one wildcard: ${[...prefixes]}`);
    assert.equal(new Set(replies).size, 20, "each call has its own reply subject");
  });
});
