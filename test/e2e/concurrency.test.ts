/**
 * Concurrency limits measured inside the app, with two `jetstep dev` executor processes sharing
 * the work: a function-wide limit of 5 over 200 runs, and a per-user limit of 1 (10 users × 20 runs)
 * where a busy user never holds back the others.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Keys, partitionOf } from "@jetstep/core";
import { connectNats, openBuckets } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import {
  freePort,
  type NatsServerHandle,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import {
  type ServedApp,
  sendEvents,
  serveApp,
  spawnJetstep,
  waitForApp,
  waitForPartitionSplit,
} from "./harness.ts";

// Work in step bodies, so concurrent ones overlap and the limits are measured: not a wait.
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("concurrency limits across two executor processes", () => {
  let nats: NatsServerHandle;
  let app: ServedApp | undefined;
  const procs: TsProcess[] = [];
  const procUrls: string[] = [];
  let url = "";
  const fnWide = { now: 0, max: 0, done: 0 };
  const envScoped = { now: 0, max: 0, done: 0 };
  const perUser = { running: new Map<string, number>(), maxSameUser: 0, maxUsers: 0, done: 0 };

  before(async () => {
    nats = await startNatsServer();
    const ports = [await freePort(), await freePort()];
    url = `http://127.0.0.1:${ports[0]}`;
    const client = new Jetstep({ id: "limits", baseUrl: url });
    const limited = client.createFunction(
      { id: "limited", concurrency: 5 },
      { event: "limits/wide" },
      async ({ step }) => {
        await step.run("work", async () => {
          fnWide.now++;
          fnWide.max = Math.max(fnWide.max, fnWide.now);
          await pause(25);
          fnWide.now--;
        });
        fnWide.done++;
      },
    );
    const keyed = client.createFunction(
      { id: "keyed", concurrency: { limit: 1, key: "event.data.user" } },
      { event: "limits/user" },
      async ({ event, step }) => {
        const user = event.data.user as string;
        await step.run("work", async () => {
          const n = (perUser.running.get(user) ?? 0) + 1;
          perUser.running.set(user, n);
          perUser.maxSameUser = Math.max(perUser.maxSameUser, n);
          perUser.maxUsers = Math.max(
            perUser.maxUsers,
            [...perUser.running.values()].filter((v) => v > 0).length,
          );
          await pause(60);
          perUser.running.set(user, (perUser.running.get(user) ?? 1) - 1);
        });
        perUser.done++;
      },
    );
    // Two functions sharing an env-scoped key: at most 1 step of either per account at once.
    const shared = (id: string) =>
      client.createFunction(
        { id, concurrency: { limit: 1, key: "event.data.account", scope: "env" } },
        { event: `limits/${id}` },
        async ({ step }) => {
          await step.run("work", async () => {
            envScoped.now++;
            envScoped.max = Math.max(envScoped.max, envScoped.now);
            await pause(30);
            envScoped.now--;
          });
          envScoped.done++;
        },
      );
    app = await serveApp(serve({ client, functions: [limited, keyed, shared("env-a"), shared("env-b")] }));
    const appUrl = app.url;
    for (const port of ports) {
      procs.push(await spawnJetstep(nats.url, port, ["-u", appUrl, "--lease-ttl", "2s"]));
      procUrls.push(`http://127.0.0.1:${port}`);
    }
    await waitForApp(url, "limits");
    await waitForPartitionSplit(nats.url, 2);
  });
  after(async () => {
    await app?.close();
    for (const p of procs) await p.kill("SIGKILL");
    await nats?.stop();
  });

  it("never runs more than 5 step bodies of a concurrency-5 function at once; all 200 complete", async () => {
    await sendEvents(
      url,
      Array.from({ length: 200 }, (_, i) => ({ name: "limits/wide", data: { i } })),
    );
    await waitFor(() => fnWide.done >= 200, {
      timeoutMs: 90_000,
      message: `only ${fnWide.done} of 200 completed`,
    });
    assert.equal(fnWide.max, 5);
  });

  it("runs one step per user at a time, and at least 8 users progress concurrently", async () => {
    const events = [];
    for (let r = 0; r < 20; r++)
      for (let u = 0; u < 10; u++) events.push({ name: "limits/user", data: { user: `u${u}`, r } });
    await sendEvents(url, events);
    await waitFor(() => perUser.done >= 200, {
      timeoutMs: 90_000,
      message: `only ${perUser.done} of 200 completed`,
    });
    assert.equal(perUser.maxSameUser, 1);
    assert.ok(perUser.maxUsers >= 8, `only ${perUser.maxUsers} users ran at once`);
  });

  it("shares an env-scoped keyed limit across functions", async () => {
    const events = [];
    for (let i = 0; i < 15; i++) {
      events.push(
        { name: "limits/env-a", data: { account: "acme", i } },
        { name: "limits/env-b", data: { account: "acme", i } },
      );
    }
    await sendEvents(url, events);
    await waitFor(() => envScoped.done >= 30, {
      timeoutMs: 60_000,
      message: `only ${envScoped.done} of 30 completed`,
    });
    assert.equal(envScoped.max, 1);
  });

  it("keeps the limit and completes every run when the executor owning the function is SIGKILLed", async () => {
    // Which process owns the function-wide limit's partition?
    const nc = await connectNats({ servers: nats.url });
    const { leases } = await openBuckets(nc, { replicas: 1 });
    const partition = partitionOf("limits-limited||", 16);
    const lease = (await leases.get(Keys.lease(partition)))?.json<{ owner: string }>();
    await nc.close();
    const ownerIndex = procs.findIndex((p) => p.output().includes(`"owner":"${lease?.owner}"`));
    assert.ok(ownerIndex >= 0, `no process owns partition ${partition}`);
    const survivorUrl = procUrls[1 - ownerIndex] as string;
    fnWide.max = 0;
    const before = fnWide.done;
    await sendEvents(
      survivorUrl,
      Array.from({ length: 200 }, (_, i) => ({ name: "limits/wide", data: { i, round: 2 } })),
    );
    await waitFor(() => fnWide.done >= before + 40, { timeoutMs: 60_000 });
    await (procs[ownerIndex] as TsProcess).kill("SIGKILL");
    await waitFor(() => fnWide.done >= before + 200, {
      timeoutMs: 120_000,
      message: `only ${fnWide.done - before} of 200 completed after the kill`,
    });
    assert.equal(fnWide.max, 5);
  });
});
