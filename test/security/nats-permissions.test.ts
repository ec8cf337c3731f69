/**
 * Security checklist, part 4 (issue 15): NATS with the users of infra/nats/auth.conf. The services
 * and a NATS worker app run a function end to end with their own users, and the app's user (or an
 * event publisher's) cannot touch what is not theirs: run commands, run logs, buckets, the
 * JetStream API, other apps' calls.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startRuntime } from "@jetstep/cli";
import { silentLogger } from "@jetstep/telemetry";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { Jetstep, worker } from "jetstep";
import { eventRuns, sendEvents } from "../e2e/harness.ts";
import { type NatsServerHandle, startNatsServer, waitFor } from "../support/index.ts";

const AUTH_CONF = fileURLToPath(new URL("../../infra/nats/auth.conf", import.meta.url));
const PASSWORDS = {
  JETSTEP_NATS_SERVICES_PASSWORD: "services-secret-0123",
  JETSTEP_NATS_APP_BILLING_PASSWORD: "billing-secret-0123",
  JETSTEP_NATS_PUBLISHER_PASSWORD: "publisher-secret-0123",
};

/** Connects as `user` and collects the server's errors (permission violations come as these). */
async function connectAs(url: string, user: string, pass: string, inboxPrefix: string) {
  // A plain connection: these users may not use the JetStream API at all.
  const nc = await connect({ servers: url, user, pass, inboxPrefix });
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
  })();
  return { nc, errors };
}

describe("NATS users and permissions (infra/nats/auth.conf)", () => {
  let server: NatsServerHandle;
  let runtime: Awaited<ReturnType<typeof startRuntime>>;
  let url = "";
  let handle: Awaited<ReturnType<typeof worker>> | undefined;
  const opened: NatsConnection[] = [];

  before(async () => {
    Object.assign(process.env, PASSWORDS);
    server = await startNatsServer({ configText: readFileSync(AUTH_CONF, "utf8") });
    runtime = await startRuntime({
      natsUrl: server.url,
      natsOptions: { user: "jetstep", pass: PASSWORDS.JETSTEP_NATS_SERVICES_PASSWORD },
      host: "127.0.0.1",
      port: 0,
      appUrls: [],
      syncIntervalMs: 60_000,
      eventKeys: ["test-key"],
      log: silentLogger(),
    });
    url = runtime.gatewayUrl;
  });
  after(async () => {
    await handle?.close();
    for (const n of opened) await n.close().catch(() => undefined);
    await runtime?.stop();
    await server?.stop();
  });

  it("runs a worker app's function end to end, each party with its own user", async () => {
    // Configured as docker-compose.yml configures the billing example: its NATS user from the env.
    const env = {
      JETSTEP_NATS_USER: "app-billing",
      JETSTEP_NATS_PASS: PASSWORDS.JETSTEP_NATS_APP_BILLING_PASSWORD,
    };
    const client = new Jetstep({ id: "billing", baseUrl: url, eventKey: "test-key", env });
    const charge = client.createFunction({ id: "charge" }, { event: "billing/charge" }, async ({ step }) => {
      const n = await step.run("amount", () => 42);
      await step.sendEvent("receipt", { name: "billing/charged", data: { n } });
      return n;
    });
    handle = await worker({
      client,
      functions: [charge],
      servers: server.url,
    });
    assert.equal((await handle.registered).ok, true);
    const [id] = await sendEvents(url, { name: "billing/charge", data: {} });
    const run = await waitFor(
      async () => {
        const [r] = (await eventRuns(url, id as string)) ?? [];
        return r?.status === "Completed" ? r : null;
      },
      { timeoutMs: 30_000, message: "the worker's run did not complete" },
    );
    assert.equal(run.output, 42);
  });

  it("keeps an app's user to its own calls: no commands, run logs, buckets or JetStream API", async () => {
    const app = await connectAs(
      server.url,
      "app-billing",
      PASSWORDS.JETSTEP_NATS_APP_BILLING_PASSWORD,
      "_INBOX_billing",
    );
    opened.push(app.nc);
    const denied = [
      "inbox.0", // a forged run command (cancel, start with seeded results)
      "run.0.01RUN", // a forged run log entry
      "$KV.JETSTEP_WAITS.x", // a bucket
      "$JS.API.STREAM.MSG.GET.RUNS_0", // reading run logs through the API
      "jetstep.call.orders", // another app's calls
      "evt.inngest/function.finished", // an event stored around the gateway
    ];
    for (const subject of denied) app.nc.publish(subject, "{}");
    for (const subject of ["run.>", "inbox.>", "_INBOX.>", "jetstep.call.orders"]) {
      const sub = app.nc.subscribe(subject);
      const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r("open"), 5_000))]);
      assert.ok(closed instanceof Error, `subscribe ${subject}: ${String(closed)}`);
      assert.match(closed.message, /permissions violation/i, subject);
    }
    await app.nc.flush();
    await waitFor(() => denied.every((s) => app.errors.some((e) => e.includes(s))), {
      timeoutMs: 5_000,
      message: "some publishes were not refused",
    });
  });

  it("lets a publisher only send events (with the event key), never stream subjects", async () => {
    const pub = await connectAs(
      server.url,
      "publisher",
      PASSWORDS.JETSTEP_NATS_PUBLISHER_PASSWORD,
      "_INBOX_publisher",
    );
    opened.push(pub.nc);
    const h = headers();
    h.set("Jetstep-Event-Key", "test-key");
    const reply = await pub.nc.request("jetstep.events", JSON.stringify({ name: "pub/ok" }), {
      timeout: 5_000,
      headers: h,
    });
    assert.equal((JSON.parse(reply.string()) as { status: number }).status, 200);
    // Jetstep's own event names are refused on NATS as over HTTP.
    const reserved = await pub.nc.request(
      "jetstep.events",
      JSON.stringify({ name: "inngest/function.finished", data: { correlation_id: "x" } }),
      { timeout: 5_000, headers: h },
    );
    const refused = JSON.parse(reserved.string()) as { status: number; error: string };
    assert.equal(refused.status, 400);
    assert.match(refused.error, /is reserved: names starting with "inngest\/"/);
    pub.nc.publish("evt.pub/direct", "{}");
    await pub.nc.flush();
    await waitFor(() => pub.errors.some((e) => e.includes("evt.pub/direct")), {
      timeoutMs: 5_000,
      message: "writing straight to EVENTS was not refused",
    });
  });

  it("refuses a connection without a user", async () => {
    await assert.rejects(connect({ servers: server.url }), /authorization/i);
  });
});
