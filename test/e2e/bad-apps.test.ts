/**
 * Apps that are down or answer garbage: the call is retried, then the run fails with an error
 * saying what the app answered; the executor keeps serving other runs meanwhile.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { freePort } from "../support/index.ts";
import { type Stack, sendEvents, startStack, waitForEventRuns } from "./harness.ts";

function fakeApp(
  handler: (body: string, url: string) => { status: number; body: string; headers?: Record<string, string> },
) {
  let calls = 0;
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      calls++;
      const out = handler(body, req.url ?? "");
      res.writeHead(out.status, { "content-type": "text/plain", ...out.headers });
      res.end(out.body);
    });
  });
  return {
    server,
    calls: () => calls,
    listen: () =>
      new Promise<string>((r) =>
        server.listen(0, "127.0.0.1", () =>
          r(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api`),
        ),
      ),
  };
}

const fnDef = (id: string, url: string, event: string, retries: number) => ({
  id,
  name: id,
  triggers: [{ event }],
  steps: {
    step: {
      id: "step",
      name: "step",
      runtime: { type: "http", url: `${url}?fnId=${id}&stepId=step` },
      retries: { attempts: retries },
    },
  },
});

describe("apps that are down or answer garbage", () => {
  let stack: Stack;
  const garbage = fakeApp(() => ({ status: 200, body: "<html>definitely not json</html>" }));
  const badGateway = fakeApp(() => ({ status: 502, body: "Bad Gateway from proxy" }));
  const healthy = fakeApp((body) => ({
    status: 200,
    body: JSON.stringify({ echoed: (JSON.parse(body) as { event: { data: unknown } }).event.data }),
  }));

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const downUrl = `http://127.0.0.1:${await freePort()}/api`;
    const register = {
      url: "http://127.0.0.1:1/api",
      appName: "bad",
      functions: [
        fnDef("bad-down", downUrl, "bad/go", 2),
        fnDef("bad-garbage", await garbage.listen(), "bad/go", 2),
        fnDef("bad-502", await badGateway.listen(), "bad/go", 2),
        fnDef("bad-healthy", await healthy.listen(), "bad/go", 0),
      ],
    };
    const res = await fetch(`${stack.url}/fn/register`, { method: "POST", body: JSON.stringify(register) });
    assert.equal(res.status, 200);
  });
  after(async () => {
    for (const a of [garbage, badGateway, healthy]) a.server.close();
    await stack.stop();
  });

  it("fails each broken app's run with what it answered, after retrying; healthy runs complete", async () => {
    const [id] = await sendEvents(stack.url, { name: "bad/go", data: { n: 7 } });
    const runs = await waitForEventRuns(stack.url, id as string, 4);
    const byFn = Object.fromEntries(runs.map((r) => [r.function_id, r]));
    assert.equal(byFn["bad-healthy"]?.status, "Completed");
    assert.deepEqual(byFn["bad-healthy"]?.output, { echoed: { n: 7 } });
    assert.equal(byFn["bad-down"]?.status, "Failed");
    assert.match(
      byFn["bad-down"]?.error?.message ?? "",
      /could not reach the app at http:\/\/127\.0\.0\.1:\d+\/api.*ECONNREFUSED/,
    );
    assert.equal(byFn["bad-garbage"]?.status, "Failed");
    assert.match(
      byFn["bad-garbage"]?.error?.message ?? "",
      /app answered 200 with a body that is not JSON: "<html>definitely not json<\/html>"/,
    );
    assert.equal(byFn["bad-502"]?.status, "Failed");
    assert.match(byFn["bad-502"]?.error?.message ?? "", /app answered 502 "Bad Gateway from proxy"/);
    assert.equal(garbage.calls(), 3, "2 retries = 3 attempts");
    assert.equal(badGateway.calls(), 3);
  });
});
