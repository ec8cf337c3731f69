/**
 * The lease fence on app calls: a call whose fence no longer holds when it would leave never
 * reaches the app, including one that waited for a connection while the fence changed.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type DueCall, initialRun, type RunContext } from "@jetstep/core";
import { callApp, FencedCallError } from "./app-client.ts";

describe("callApp fence", () => {
  let server: Server;
  let base = "";
  const received: string[] = [];
  /** Requests held open (their answers wait), to keep the agent's connections busy. */
  const held: ServerResponse[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      received.push(req.url ?? "");
      if (req.url?.includes("hold")) {
        held.push(res);
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify("done"));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/inngest`;
  });
  after(() => {
    for (const r of held) r.end();
    server.closeAllConnections();
    server.close();
  });

  const ctx = (fnId: string): RunContext => ({
    ...initialRun().context,
    runId: "01RUN",
    fnId,
    url: `${base}?fnId=${fnId}`,
    event: { id: "e1", name: "x", data: {}, ts: 0 },
    events: [{ id: "e1", name: "x", data: {}, ts: 0 }],
  });
  const call: DueCall = { stepId: null, attempt: 0 } as DueCall;
  const opts = { timeoutMs: 5000, now: Date.now, serverKind: "dev" as const };

  it("sends the call while the fence holds", async () => {
    const answer = await callApp(ctx("open"), call, { ...opts, fence: () => true });
    assert.deepEqual(answer, { kind: "result", data: "done" });
    assert.ok(received.some((u) => u.includes("fnId=open")));
  });

  it("does not send a call whose fence fails", async () => {
    await assert.rejects(callApp(ctx("shut"), call, { ...opts, fence: () => false }), FencedCallError);
    assert.ok(!received.some((u) => u.includes("fnId=shut")), "the app never saw it");
  });

  it("checks the fence when a queued call gets its connection, not when it was queued", async () => {
    // The agent allows 128 connections per host: hold them all, so the next call queues.
    const holding = Array.from({ length: 128 }, () => callApp(ctx("hold"), call, opts));
    while (held.length < 128) await new Promise((r) => setImmediate(r));
    let valid = true;
    const queued = callApp(ctx("queued"), call, { ...opts, fence: () => valid });
    valid = false; // the lease lapsed while the call waited for a connection
    held.pop()?.end(JSON.stringify("done"));
    await assert.rejects(queued, FencedCallError);
    assert.ok(!received.some((u) => u.includes("fnId=queued")), "the app never saw it");
    for (const r of held.splice(0)) r.end(JSON.stringify("done"));
    await Promise.all(holding);
  });
});
