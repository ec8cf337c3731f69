/**
 * A call sent on a kept-alive connection that the app's server closes as the call goes out (the
 * server's idle timeout, 5 s in Node) is sent again on another connection, not failed with
 * ECONNRESET. Simulated with a server that resets a connection on a chosen request.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, describe, it } from "node:test";
import { send } from "./http-send.ts";

/**
 * A server that answers 200, except that it resets the connection (TCP RST, no answer) on the
 * requests `resets(n)` picks by their number `n` on their connection (1 for a connection's first).
 */
async function server(resets: (n: number) => boolean) {
  const seen = new Map<Socket, number>();
  const log: { connection: number; n: number; reset: boolean }[] = [];
  const connections = new Map<Socket, number>();
  const srv = http.createServer((req, res) => {
    const socket = req.socket;
    if (!connections.has(socket)) connections.set(socket, connections.size + 1);
    const n = (seen.get(socket) ?? 0) + 1;
    seen.set(socket, n);
    const reset = resets(n);
    log.push({ connection: connections.get(socket) as number, n, reset });
    req.resume();
    if (reset) socket.resetAndDestroy();
    else req.on("end", () => res.end("ok"));
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const url = new URL(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/api`);
  return { url, log, close: () => srv.close() };
}

const call = (url: URL) => send(url, "{}", { "content-type": "application/json" }, 10_000);

describe("sending a call on a kept-alive connection", () => {
  const servers: { close(): void }[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  it("sends it again on another connection when the reused one is reset before any answer", async () => {
    const s = await server((n) => n === 2);
    servers.push(s);
    assert.equal((await call(s.url)).status, 200);
    const res = await call(s.url);
    assert.equal(res.status, 200);
    assert.equal(res.body, "ok");
    assert.deepEqual(s.log, [
      { connection: 1, n: 1, reset: false },
      { connection: 1, n: 2, reset: true },
      { connection: 2, n: 1, reset: false },
    ]);
  });

  it("fails a call reset on a new connection, sending it once", async () => {
    const s = await server((n) => n === 1);
    servers.push(s);
    await assert.rejects(call(s.url), { code: "ECONNRESET" });
    assert.equal(s.log.length, 1);
  });

  it("gives up with the reset after three connections reset it", async () => {
    // Three kept-alive connections (three calls at once), each reset on its second request.
    const s = await server((n) => n === 2);
    servers.push(s);
    const first = await Promise.all([call(s.url), call(s.url), call(s.url)]);
    assert.deepEqual(
      first.map((r) => r.status),
      [200, 200, 200],
    );
    await assert.rejects(call(s.url), { code: "ECONNRESET" });
    const resets = s.log.filter((l) => l.reset);
    assert.equal(resets.length, 3, JSON.stringify(s.log));
    assert.equal(new Set(resets.map((l) => l.connection)).size, 3);
  });
});
