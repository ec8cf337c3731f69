/**
 * `jetstep start` (production mode): refuses to start without NATS, event keys or a signing key,
 * or on a nats-server older than the minimum;
 * with them, calls to apps are signed (our SDK verifies), registration needs the key, events need
 * an event key.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import {
  freePort,
  type NatsServerHandle,
  spawnCli,
  startFakeNatsServer,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { useApiKey, waitForApp, waitForEventRuns } from "./harness.ts";

const SIGNING_KEY = "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";

describe("jetstep start", () => {
  let nats: NatsServerHandle;
  let proc: TsProcess;
  let server: Server;
  let url = "";

  before(async () => {
    nats = await startNatsServer();
  });
  after(async () => {
    server?.close();
    await proc?.kill("SIGKILL");
    await nats?.stop();
  });

  it("refuses to start without NATS, an event key or a signing key, saying which", async () => {
    const env = {
      NATS_URL: undefined,
      JETSTEP_NATS_URL: undefined,
      JETSTEP_EVENT_KEYS: undefined,
      INNGEST_EVENT_KEY: undefined,
      JETSTEP_SIGNING_KEY: undefined,
      INNGEST_SIGNING_KEY: undefined,
    };
    const cases: [string[], RegExp][] = [
      [[], /needs --nats-url/],
      [["--nats-url", nats.url], /needs at least one event key/],
      [["--nats-url", nats.url, "--event-key", "k"], /needs a signing key/],
      [
        ["--nats-url", nats.url, "--event-key", "k", "--signing-key", "oops"],
        /--signing-key: expected signkey-<env>-<hex>/,
      ],
      [
        [
          "--nats-url",
          nats.url,
          "--event-key",
          "k",
          "--signing-key",
          SIGNING_KEY,
          "--services",
          "gateway,ui",
        ],
        /unknown service "ui"/,
      ],
    ];
    for (const [args, re] of cases) {
      const p = spawnCli(["start", ...args], { env });
      const exit = await p.exited;
      assert.equal(exit.code, 2, p.output());
      assert.match(p.output(), re);
    }
  });

  it("answers GET /healthz on --health-port: 200 on a live NATS connection, 503 once it is lost; GET /metrics with a key", async () => {
    const own = await startNatsServer();
    const healthPort = await freePort();
    const p = spawnCli([
      "start",
      ...["--nats-url", own.url, "--event-key", "k", "--signing-key", SIGNING_KEY],
      ...[
        "--services",
        "matcher,executor",
        "--replicas",
        "1",
        "--health-port",
        String(healthPort),
        "--host",
        "127.0.0.1",
      ],
    ]);
    try {
      await p.waitForLine(/Jetstep started/, 60_000);
      const health = async () => {
        const r = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
        return { status: r.status, body: (await r.json()) as Record<string, unknown> };
      };
      assert.deepEqual(await health(), {
        status: 200,
        body: { status: "ok", services: ["matcher", "executor"], nats: "connected" },
      });
      // The process's metrics (no gateway here to serve them), behind the API's credentials.
      const metricsUrl = `http://127.0.0.1:${healthPort}/metrics`;
      assert.equal((await fetch(metricsUrl)).status, 401);
      const bad = await fetch(metricsUrl, { headers: { authorization: "Bearer nope" } });
      assert.equal(bad.status, 401);
      const scraped = await fetch(metricsUrl, { headers: { authorization: `Bearer ${SIGNING_KEY}` } });
      assert.equal(scraped.status, 200);
      assert.match(scraped.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.match(await scraped.text(), /^jetstep_timers_pending 0$/m);
      await own.stop();
      const down = await waitFor(async () => ((await health()).status === 503 ? health() : null), {
        timeoutMs: 30_000,
        message: "health turned 503 after NATS went away",
      });
      assert.deepEqual(down.body, { status: "unavailable", services: ["matcher", "executor"], nats: "down" });
    } finally {
      await p.kill("SIGKILL");
      await own.stop().catch(() => undefined);
    }
  });

  it("refuses a nats-server older than 2.12.0, or one without JetStream, in one line", async () => {
    const args = (natsUrl: string) => [
      "start",
      "--nats-url",
      natsUrl,
      "--event-key",
      "k",
      "--signing-key",
      SIGNING_KEY,
      "--services",
      "matcher",
    ];
    const old = await startFakeNatsServer({ version: "2.9.10", jetstream: true });
    const noJs = await startFakeNatsServer({ version: "2.15.2", jetstream: false });
    try {
      const p = spawnCli(args(old.url));
      const exit = await p.exited;
      assert.equal(exit.code, 1, p.output());
      const lines = p.output().trim().split("\n");
      assert.equal(lines.length, 1, p.output());
      assert.match(
        lines[0] as string,
        /^jetstep: nats-server 2\.9\.10 at 127\.0\.0\.1:\d+ is older than 2\.12\.0, which Jetstep needs: upgrade it \(npx jetstep install nats-server builds the pinned version\)$/,
      );
      const q = spawnCli(args(noJs.url));
      assert.equal((await q.exited).code, 1, q.output());
      assert.match(q.output(), /has JetStream disabled: start it with -js/);
    } finally {
      await old.close();
      await noJs.close();
    }
  });

  it("signs calls to apps, and requires the event key and the signing key", async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const appPort = await freePort();
    const appUrl = `http://127.0.0.1:${appPort}/api/inngest`;
    proc = spawnCli([
      "start",
      "--nats-url",
      nats.url,
      "--event-key",
      "key-1",
      "--signing-key",
      SIGNING_KEY,
      "--replicas",
      "1",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--allow-app-url",
      appUrl,
      "--json",
    ]);
    await proc.waitForLine(/Jetstep started/, 30_000);
    useApiKey(url, SIGNING_KEY);

    const client = new Jetstep({
      id: "prod-app",
      baseUrl: url,
      signingKey: SIGNING_KEY,
      eventKey: "key-1",
      serveOrigin: new URL(appUrl).origin,
    });
    const fn = client.createFunction({ id: "signed" }, { event: "prod/go" }, async ({ step }) =>
      step.run("s", () => "verified"),
    );
    server = createServer(serve({ client, functions: [fn] }));
    await new Promise<void>((r) => server.listen(appPort, "127.0.0.1", r));

    const unsigned = await fetch(`${url}/fn/register`, {
      method: "POST",
      body: JSON.stringify({ url: appUrl, appName: "intruder", functions: [] }),
    });
    assert.equal(unsigned.status, 401);
    assert.equal((await fetch(appUrl, { method: "PUT" })).status, 200); // our SDK registers with the key
    await waitForApp(url, "prod-app");

    const wrongKey = await fetch(`${url}/e/nope`, {
      method: "POST",
      body: JSON.stringify({ name: "prod/go" }),
    });
    assert.equal(wrongKey.status, 401);
    const { ids } = await client.send({ name: "prod/go", data: {} });
    const [run] = await waitForEventRuns(url, ids[0] as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    assert.equal(run?.output, "verified");
  });
});
