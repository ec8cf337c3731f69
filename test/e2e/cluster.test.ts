/**
 * A 3-node nats-server cluster on loopback with R3 streams: runs complete, and after SIGKILL of the
 * node leading the RUNS stream mid-load, every acknowledged event still produces its completed run
 * (about 50 s); then sleeps, event waits and their matches run to the end with the node still
 * down (`npm run test:cluster` runs only this file). The killed node stays down, so on
 * nats-server 2.9 this also covers ephemeral consumers that cannot be made while a node is down
 * (see ARCHITECTURE.md, "Recovery reads"). On failure it prints run statuses and phases, the INBOX
 * consumers' state and the owned partitions; JETSTEP_TEST_LOGS=1 shows Jetstep's logs.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Runtime, startRuntime } from "@jetstep/cli";
import { Streams } from "@jetstep/core";
import { createLogger, silentLogger } from "@jetstep/telemetry";
import { Jetstep, serve } from "jetstep";
import { freePort, type NatsServerHandle, startNatsServer, waitFor } from "../support/index.ts";
import { eventRuns, waitForApp } from "./harness.ts";

describe("3-node NATS cluster with R3 streams", () => {
  const nodes: NatsServerHandle[] = [];
  let runtime: Runtime;
  let server: Server;
  let url = "";

  before(async () => {
    const routes = [await freePort(), await freePort(), await freePort()];
    const conf = (i: number) => `server_name: n${i + 1}
cluster {
  name: jetstep-test
  listen: 127.0.0.1:${routes[i]}
  routes: [${routes.map((p) => `nats-route://127.0.0.1:${p}`).join(", ")}]
}
`;
    nodes.push(...(await Promise.all([0, 1, 2].map((i) => startNatsServer({ configText: conf(i) })))));
    // Wait for the JetStream meta leader before creating R3 streams.
    let lastError: unknown;
    for (let attempt = 0; attempt < 60 && !runtime; attempt++) {
      try {
        runtime = await startRuntime({
          natsUrl: nodes.map((n) => n.url),
          replicas: 3,
          host: "127.0.0.1",
          port: 0,
          appUrls: [],
          syncIntervalMs: 1000,
          retryIntervalMs: 200,
          leaseTtlMs: 3000,
          reconcileMs: 5000,
          log: process.env.JETSTEP_TEST_LOGS ? createLogger({ level: "info" }) : silentLogger(),
        });
      } catch (e) {
        lastError = e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(runtime, `runtime did not start on the cluster: ${lastError}`);
    url = runtime.gatewayUrl;
    const client = new Jetstep({ id: "clustered", baseUrl: url });
    const fn = client.createFunction(
      { id: "two-steps" },
      { event: "cluster/go" },
      async ({ event, step }) => {
        const a = await step.run("a", () => Number(event.data.i));
        return step.run("b", () => a * 2);
      },
    );
    const nap = client.createFunction({ id: "nap" }, { event: "cluster/nap" }, async ({ event, step }) => {
      await step.sleep("nap", "3s");
      return step.run("after", () => Number(event.data.i) * 3);
    });
    const wait = client.createFunction({ id: "wait" }, { event: "cluster/wait" }, async ({ step }) => {
      const ping = await step.waitForEvent("ping", { event: "cluster/ping", match: "data.i", timeout: "5m" });
      return ping ? Number(ping.data.i) : null;
    });
    server = createServer(serve({ client, functions: [fn, nap, wait] }));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/inngest`, { method: "PUT" });
    await waitForApp(url, "clustered");
  });
  after(async () => {
    server?.close();
    // A client still reconnecting to the killed node must not keep the process alive.
    await Promise.race([runtime?.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 10_000))]);
    // If stopping took too long (lease releases against a degraded cluster), close NATS anyway.
    await runtime?.nats.close();
    for (const n of nodes) await n.stop();
    // Diagnostics: fires only if something still keeps this process alive after teardown.
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
      const timers = handles
        .filter((h) => (h as { constructor: { name: string } }).constructor.name === "Timeout")
        .map((t) => {
          const timer = t as { _idleTimeout: number; _onTimeout: () => void; _repeat: number | null };
          return `${timer._repeat ? "interval" : "timeout"} ${timer._idleTimeout} ms: ${String(timer._onTimeout).slice(0, 160)}`;
        });
      process.stderr.write(`still alive after teardown:\n${timers.join("\n")}\n`);
      process.exit(process.exitCode ?? 0);
    }, 5_000).unref();
  });

  it("completes every acknowledged event's run across a SIGKILL of the RUNS leader", async () => {
    const acked: string[] = [];
    const send = async (i: number) => {
      const res = await fetch(`${url}/e/key`, {
        method: "POST",
        body: JSON.stringify({ name: "cluster/go", data: { i } }),
      }).catch(() => null);
      if (res?.status === 200) acked.push(...((await res.json()) as { ids: string[] }).ids);
    };
    for (let i = 0; i < 50; i++) await send(i);
    const info = await runtime.nats.jsm.streams.info(Streams.runs);
    assert.equal(info.config.num_replicas, 3);
    // Node i runs as server "n<i+1>": kill the one leading RUNS.
    const leader = info.cluster?.leader ?? "";
    const victim = nodes[Number(leader.slice(1)) - 1];
    assert.ok(victim, `unknown RUNS leader ${leader}`);
    await victim.kill("SIGKILL");
    for (let i = 50; i < 100; i++) await send(i);
    assert.ok(acked.length >= 50, `only ${acked.length} events were acknowledged`);
    let summary = "";
    await waitFor(
      async () => {
        const runs = await Promise.all(acked.map((id) => eventRuns(url, id).catch(() => null)));
        const counts: Record<string, { n: number; example: string }> = {};
        runs.forEach((r, i) => {
          const run = r?.length === 1 ? r[0] : undefined;
          const key = r === null ? "no runs" : !run ? `${r.length} runs` : `${run.status}/${run.phase}`;
          const example = run ? `event ${acked[i]} run ${run.run_id}` : `event ${acked[i]}`;
          counts[key] = { n: (counts[key]?.n ?? 0) + 1, example: counts[key]?.example ?? example };
        });
        summary = JSON.stringify(counts);
        return runs.every((r) => r?.length === 1 && r[0]?.status === "Completed");
      },
      { timeoutMs: 180_000, intervalMs: 2000, message: "not every acknowledged event's run completed" },
    ).catch(async (e: Error) => {
      // Where are the unfinished runs' commands? INBOX consumers per partition, and who owns what.
      const jsm = runtime.nats.jsm;
      const inbox = await jsm.streams.info(Streams.inbox).catch((x: Error) => x.message);
      const consumers: string[] = [];
      for (let p = 0; p < 16; p++) {
        const ci = await jsm.consumers.info(Streams.inbox, `inbox-p${p}`).catch((x: Error) => x.message);
        consumers.push(
          typeof ci === "string"
            ? `p${p}: ${ci}`
            : `p${p}: pending ${ci.num_pending} ack-pending ${ci.num_ack_pending} waiting ${ci.num_waiting} leader ${ci.cluster?.leader}`,
        );
      }
      e.message += ` (${summary})\nINBOX messages: ${typeof inbox === "string" ? inbox : inbox.state.messages}\nowned: ${runtime.executor.ownedPartitions().join(",")}\n${consumers.join("\n")}`;
      throw e;
    });
    // The run list (RUN_INDEX) agrees: a run whose final index write failed during the outage
    // would stay listed as running.
    const runIds = (await Promise.all(acked.map((id) => eventRuns(url, id)))).map((r) => r?.[0]?.run_id);
    let listed = "";
    await waitFor(
      async () => {
        const res = await fetch(`${url}/v1/runs?function_id=clustered-two-steps&limit=200`);
        const page = (await res.json()) as { data: { run_id: string; status: string }[] };
        const status = new Map(page.data.map((r) => [r.run_id, r.status]));
        const off = runIds.filter((id) => !id || status.get(id) !== "Completed");
        listed = `${off.length} of ${runIds.length} not listed as Completed, e.g. ${off[0]}: ${off[0] ? status.get(off[0]) : ""}`;
        return off.length === 0;
      },
      { timeoutMs: 30_000, intervalMs: 1000, message: "the run list does not show every run Completed" },
    ).catch((e: Error) => {
      e.message += ` (${listed})`;
      throw e;
    });
  });

  it("runs sleeps and event waits to the end with the killed node still down", async () => {
    // Runs after the kill above: timers, waits (a KV watch that may have lived on the dead node)
    // and event matching, on a cluster that cannot place some of its ephemeral consumers.
    const send = async (events: { name: string; data: { i: number } }[]) => {
      for (let attempt = 0; ; attempt++) {
        const res = await fetch(`${url}/e/key`, { method: "POST", body: JSON.stringify(events) }).catch(
          () => null,
        );
        if (res?.status === 200) return ((await res.json()) as { ids: string[] }).ids;
        if (attempt >= 20) throw new Error(`events not accepted: ${res?.status}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    const range = Array.from({ length: 10 }, (_, i) => i);
    const naps = await send(range.map((i) => ({ name: "cluster/nap", data: { i } })));
    const waits = await send(range.map((i) => ({ name: "cluster/wait", data: { i } })));
    await new Promise((r) => setTimeout(r, 1000));
    await send(range.map((i) => ({ name: "cluster/ping", data: { i } })));
    let summary = "";
    await waitFor(
      async () => {
        const runs = await Promise.all([...naps, ...waits].map((id) => eventRuns(url, id).catch(() => null)));
        const done = runs.filter((r) => r?.[0]?.status === "Completed").length;
        summary = `${done} of ${runs.length} completed; e.g. ${JSON.stringify(runs.find((r) => r?.[0]?.status !== "Completed")?.[0] ?? null)}`;
        return done === runs.length;
      },
      { timeoutMs: 120_000, intervalMs: 2000, message: "sleeping and waiting runs did not all complete" },
    ).catch((e: Error) => {
      e.message += ` (${summary})`;
      throw e;
    });
    for (const [i, id] of naps.entries()) assert.equal((await eventRuns(url, id))?.[0]?.output, i * 3);
    for (const [i, id] of waits.entries())
      assert.equal((await eventRuns(url, id))?.[0]?.output, i, "each wait matched its own ping");
  });
});
