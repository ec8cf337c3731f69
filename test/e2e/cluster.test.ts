/**
 * A 3-node nats-server cluster on loopback with R3 streams (`npm run test:cluster` runs only this
 * file; 60–100 s):
 * 1. SIGKILL of the node leading RUNS mid-load: every stream and KV stream elects a leader on
 *    another node, and every acknowledged event still produces its completed run.
 * 2. Sleeps, event waits and their matches run to the end with that node still down (on
 *    nats-server 2.9 this covered ephemeral consumers that cannot be made while a node is down;
 *    see docs/ARCHITECTURE.md, "Recovery reads").
 * 3. The node restarts on its own store and rejoins: every R3 stream reports all its replicas
 *    current again. Runs started after that complete, then the rejoined node is made RUNS leader
 *    (leader step-down with a placement preference) and more runs complete with it leading.
 * 4. Exactly once, over the whole test: each acknowledged event has one run, Completed with its
 *    output; each run emitted one `inngest/function.finished`; each run's log, read through a
 *    client connected only to the rejoined node, is complete (entries 1…n) and ends once, with no
 *    step recorded twice; a step body whose result was recorded (before the kill, or before the
 *    restart) never ran again. Step-body executions are counted in the app and reported.
 * On failure it prints run statuses and phases, the INBOX consumers' state, the owned partitions,
 * every stream's leader and replica states and the steps that ran more than once;
 * JETSTEP_TEST_LOGS=1 shows Jetstep's logs.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { type Runtime, startRuntime } from "@jetstep/cli";
import { RunShards, Streams } from "@jetstep/core";
import { connectNats, type Nats, readRunsLayout, runLocation, scanSubjects } from "@jetstep/jetstream";
import { createLogger, silentLogger } from "@jetstep/telemetry";
import { Jetstep, serve } from "jetstep";
import { freePort, type NatsServerHandle, startNatsServer, waitFor } from "../support/index.ts";
import { type ApiRun, eventRuns, waitForApp } from "./harness.ts";

/** The first run log stream: the test kills its leader and later makes the rejoined node lead it. */
const RUNS_0 = RunShards.stream(0);

type Fn = "two-steps" | "nap" | "wait";
const OUTPUT: Record<Fn, (i: number) => number> = {
  "two-steps": (i) => i * 2,
  nap: (i) => i * 3,
  wait: (i) => i,
};
const EVENT: Record<Fn, string> = { "two-steps": "cluster/go", nap: "cluster/nap", wait: "cluster/wait" };
const TERMINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);

describe("3-node NATS cluster with R3 streams", () => {
  const nodes: NatsServerHandle[] = [];
  let runtime: Runtime;
  let server: Server;
  let url = "";
  /** Every stream (KV buckets included), read once the runtime has made them. */
  const streamNames: string[] = [];
  /** The node killed in the first test (server name `n<index+1>`), restarted in the third. */
  let victim: NatsServerHandle | undefined;
  let victimName = "";
  /** A client connected only to the restarted node. */
  let viaVictim: Nats | undefined;
  /** Every acknowledged event that starts a run: its function and `data.i`. */
  const acked = new Map<string, { fn: Fn; i: number }>();
  /** Step bodies executed in the app, by `<runId>:<step>`: when each execution began. */
  const executions = new Map<string, number[]>();
  const ran = (runId: string, step: string): void => {
    const key = `${runId}:${step}`;
    executions.set(key, [...(executions.get(key) ?? []), Date.now()]);
  };
  /** Executions of step `a` of runs whose `a` was recorded before the kill, counted then. */
  const aRecordedAtKill = new Map<string, number>();
  /** Executions per step of the runs completed before the restart, counted then. */
  const atRestart = new Map<string, number>();
  const times = { start: Date.now(), kill: 0, restart: 0, rejoined: 0 };
  const at = (t: number): string => {
    const s = ((t - (times.kill || times.start)) / 1000).toFixed(1);
    return !times.kill
      ? `${s} s in`
      : t < times.kill
        ? `${s.slice(1)} s before the kill`
        : `${s} s after the kill`;
  };

  /** Leader and replica states of every stream, one line each; `healthy` when all are current. */
  const replicaStates = async (jsm = runtime.nats.jsm) => {
    const lines: string[] = [];
    let healthy = true;
    const leaders = new Map<string, string | undefined>();
    const infos = await Promise.all(
      streamNames.map((n) => jsm.streams.info(n).catch((e: Error) => e.message)),
    );
    for (const [k, name] of streamNames.entries()) {
      const info = infos[k] as (typeof infos)[number];
      if (typeof info === "string") {
        lines.push(`${name}: ${info}`);
        healthy = false;
        continue;
      }
      const c = info.cluster;
      const replicas = c?.replicas ?? [];
      leaders.set(name, c?.leader);
      healthy &&=
        !!c?.leader &&
        replicas.length === info.config.num_replicas - 1 &&
        replicas.every((r) => r.current && !r.offline);
      const peers = replicas.map(
        (r) =>
          `${r.name} ${r.current ? "current" : "not current"}${r.offline ? " offline" : ""} (seen ${(r.active / 1e9).toFixed(1)} s ago${r.lag ? `, lag ${r.lag}` : ""})`,
      );
      lines.push(`${name}: R${info.config.num_replicas} leader ${c?.leader ?? "none"}; ${peers.join(", ")}`);
    }
    return { text: lines.join("\n"), healthy, leaders };
  };

  /** What a failure message needs: INBOX consumers, owned partitions, streams, repeated steps. */
  const diagnostics = async (): Promise<string> => {
    const jsm = runtime.nats.jsm;
    const inbox = await jsm.streams.info(Streams.inbox).catch((x: Error) => x.message);
    const consumers: string[] = [];
    for (let p = 0; p < 16; p++) {
      const ci = await jsm.consumers.info(Streams.inbox, `inbox-p${p}`).catch((x: Error) => x.message);
      const peers =
        typeof ci === "string" ? [] : (ci.cluster?.replicas ?? []).map((r) => `${r.name} ${r.current}`);
      consumers.push(
        typeof ci === "string"
          ? `p${p}: ${ci}`
          : `p${p}: pending ${ci.num_pending} ack-pending ${ci.num_ack_pending} waiting ${ci.num_waiting} leader ${ci.cluster?.leader} (${peers.join(", ")})`,
      );
    }
    const repeated = [...executions].filter(([, ts]) => ts.length > 1);
    return [
      `INBOX messages: ${typeof inbox === "string" ? inbox : inbox.state.messages}`,
      `owned: ${runtime.executor.ownedPartitions().join(",")}`,
      consumers.join("\n"),
      `streams (killed node ${victimName}):\n${(await replicaStates()).text}`,
      `steps run more than once: ${repeated.map(([k, ts]) => `${k} at ${ts.map(at).join(", ")}`).join("; ") || "none"}`,
    ].join("\n");
  };

  /** Sends events (retrying while the gateway cannot store them); returns their ids. */
  const send = async (events: { name: string; data: { i: number } }[]): Promise<string[]> => {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(`${url}/e/key`, { method: "POST", body: JSON.stringify(events) }).catch(
        () => null,
      );
      if (res?.status === 200) return ((await res.json()) as { ids: string[] }).ids;
      if (attempt >= 20) throw new Error(`events not accepted: ${res?.status}`);
      // Pacing between retries of a refused send (the send itself is the condition): not a wait.
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  const sendFor = async (fn: Fn, is: number[]): Promise<string[]> => {
    if (is.length === 0) return [];
    const ids = await send(is.map((i) => ({ name: EVENT[fn], data: { i } })));
    for (const [k, id] of ids.entries()) acked.set(id, { fn, i: is[k] as number });
    return ids;
  };

  /** Waits until every event in `ids` has exactly one run, Completed. */
  const waitForCompleted = async (ids: string[], what: string, timeoutMs: number): Promise<void> => {
    let summary = "";
    await waitFor(
      async () => {
        const runs = await Promise.all(ids.map((id) => eventRuns(url, id).catch(() => null)));
        const counts: Record<string, { n: number; example: string }> = {};
        runs.forEach((r, k) => {
          const run = r?.length === 1 ? r[0] : undefined;
          const key = r === null ? "no runs" : !run ? `${r.length} runs` : `${run.status}/${run.phase}`;
          const example = run ? `event ${ids[k]} run ${run.run_id}` : `event ${ids[k]}`;
          counts[key] = { n: (counts[key]?.n ?? 0) + 1, example: counts[key]?.example ?? example };
        });
        summary = JSON.stringify(counts);
        return runs.every((r) => r?.length === 1 && r[0]?.status === "Completed");
      },
      { timeoutMs, intervalMs: 2000, message: `not every ${what} run completed` },
    ).catch(async (e: Error) => {
      e.message += ` (${summary})\n${await diagnostics()}`;
      throw e;
    });
  };

  /**
   * Starts `go` two-step runs, `naps` sleeping runs and `waits` runs waiting for a ping (`data.i`
   * from `from` on), sends the pings once every wait is open, and waits for all of them to complete.
   */
  const runBatch = async (
    from: number,
    counts: { go: number; naps: number; waits: number },
    what: string,
  ) => {
    const range = (n: number) => Array.from({ length: n }, (_, k) => from + k);
    const ids = [
      ...(await sendFor("two-steps", range(counts.go))),
      ...(await sendFor("nap", range(counts.naps))),
    ];
    const waits = await sendFor("wait", range(counts.waits));
    // A ping stored before its wait began would never match it: send them once every run waits.
    let open = "";
    await waitFor(
      async () => {
        const runs = await Promise.all(waits.map((id) => eventRuns(url, id).catch(() => null)));
        open = `${runs.filter((r) => r?.[0]?.phase === "waiting").length} of ${waits.length}`;
        return runs.every((r) => r?.[0]?.phase === "waiting");
      },
      { timeoutMs: 60_000, intervalMs: 500, message: `${what}: not every wait opened` },
    ).catch(async (e: Error) => {
      e.message += ` (${open} waiting)\n${await diagnostics()}`;
      throw e;
    });
    await send(range(counts.waits).map((i) => ({ name: "cluster/ping", data: { i } })));
    await waitForCompleted([...ids, ...waits], what, 120_000);
  };

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
        // Pacing between attempts (startRuntime itself is the condition): not a wait.
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    assert.ok(runtime, `runtime did not start on the cluster: ${lastError}`);
    url = runtime.gatewayUrl;
    for await (const name of runtime.nats.jsm.streams.names()) streamNames.push(name);
    streamNames.sort();
    const client = new Jetstep({ id: "clustered", baseUrl: url });
    const fn = client.createFunction(
      { id: "two-steps" },
      { event: "cluster/go" },
      async ({ event, step, runId }) => {
        const a = await step.run("a", () => {
          ran(runId, "a");
          return Number(event.data.i);
        });
        // `b` takes a while, so the kill finds runs with `a` recorded and `b` in flight.
        return step.run("b", async () => {
          ran(runId, "b");
          // Work in the step (see above): not a wait.
          await new Promise((r) => setTimeout(r, 300));
          return a * 2;
        });
      },
    );
    const nap = client.createFunction(
      { id: "nap" },
      { event: "cluster/nap" },
      async ({ event, step, runId }) => {
        await step.sleep("nap", "3s");
        return step.run("after", () => {
          ran(runId, "after");
          return Number(event.data.i) * 3;
        });
      },
    );
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
    await viaVictim?.close().catch(() => undefined);
    // A client still reconnecting to a killed node must not keep the process alive.
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

  it("completes every acknowledged event's run across a SIGKILL of the RUNS leader", async (t) => {
    const first: string[] = [];
    const sendOne = async (i: number) => {
      const res = await fetch(`${url}/e/key`, {
        method: "POST",
        body: JSON.stringify({ name: "cluster/go", data: { i } }),
      }).catch(() => null);
      if (res?.status !== 200) return;
      const ids = ((await res.json()) as { ids: string[] }).ids;
      for (const id of ids) acked.set(id, { fn: "two-steps", i });
      first.push(...ids);
    };
    for (let i = 0; i < 50; i++) await sendOne(i);
    const info = await runtime.nats.jsm.streams.info(RUNS_0);
    assert.equal(info.config.num_replicas, 3);
    // Node i runs as server "n<i+1>": kill the one leading RUNS_0 (the first of the run log streams).
    victimName = info.cluster?.leader ?? "";
    victim = nodes[Number(victimName.slice(1)) - 1];
    assert.ok(victim, `unknown RUNS leader ${victimName}`);
    // Keep events coming through the kill: 50 more at least, 25 of them after it.
    let afterKill = 0;
    const load = (async () => {
      for (let i = 50; i < 100 || afterKill < 25; i++) {
        if (times.kill) afterKill++;
        await sendOne(i);
      }
    })();
    await waitFor(() => first.length >= 60, { timeoutMs: 30_000, message: "60 events acknowledged" });
    // Which runs have step `a` recorded (the API reads RUNS from its leader: committed entries)?
    // Their `a` must never run again, whatever the kill does.
    const seen = await Promise.all([...first].map((id) => eventRuns(url, id).catch(() => null)));
    const atKill = { started: seen.length, a: 0, completed: 0 };
    for (const run of seen.map((r) => r?.[0])) {
      if (!run?.steps.some((s) => s.name === "a" && s.status === "completed")) continue;
      aRecordedAtKill.set(run.run_id, executions.get(`${run.run_id}:a`)?.length ?? 0);
      atKill[run.status === "Completed" ? "completed" : "a"]++;
    }
    times.kill = Date.now();
    await victim.kill("SIGKILL");
    await load;
    t.diagnostic(
      `killed ${victimName} after ${atKill.started} acknowledged events (${first.length} in all): ${atKill.completed} runs had completed and ${atKill.a} had recorded only step a shortly before`,
    );
    assert.ok(first.length >= 50, `only ${first.length} events were acknowledged`);
    await waitForCompleted(first, "acknowledged two-step", 180_000);
    // Every stream and KV stream (all R3) is led by a node still up.
    let states = "";
    await waitFor(
      async () => {
        const s = await replicaStates();
        states = s.text;
        return streamNames.every((n) => s.leaders.get(n) && s.leaders.get(n) !== victimName);
      },
      {
        timeoutMs: 30_000,
        intervalMs: 1000,
        message: `a stream is still led by the killed node ${victimName}`,
      },
    ).catch((e: Error) => {
      e.message += `\n${states}`;
      throw e;
    });
    t.diagnostic(`leaders with ${victimName} down:\n${states}`);
    // The run list (RUN_INDEX) agrees: a run whose final index write failed during the outage
    // would stay listed as running.
    const runIds = (await Promise.all(first.map((id) => eventRuns(url, id)))).map((r) => r?.[0]?.run_id);
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
    await runBatch(0, { go: 0, naps: 10, waits: 10 }, "sleeping and waiting (node down)");
  });

  it("restarts the killed node on its store; it rejoins, leads RUNS and runs complete", async (t) => {
    assert.ok(victim, "no node was killed");
    // Everything so far has completed: none of those steps may run again.
    const done = await Promise.all([...acked.keys()].map((id) => eventRuns(url, id).catch(() => null)));
    for (const run of done.map((r) => r?.[0])) {
      if (run?.status !== "Completed") continue;
      for (const [key, ts] of executions) if (key.startsWith(`${run.run_id}:`)) atRestart.set(key, ts.length);
    }
    times.restart = Date.now();
    await victim.restart();
    let states = "";
    await waitFor(
      async () => {
        const s = await replicaStates();
        states = s.text;
        return s.healthy;
      },
      {
        timeoutMs: 90_000,
        intervalMs: 500,
        message: `${victimName} did not rejoin every stream as a current replica`,
      },
    ).catch((e: Error) => {
      e.message += `\n${states}`;
      throw e;
    });
    times.rejoined = Date.now();
    t.diagnostic(
      `${victimName} restarted in ${(times.rejoined - times.restart) / 1000} s (process up and every stream current)`,
    );

    await runBatch(100, { go: 50, naps: 10, waits: 10 }, "post-rejoin");

    // Make the rejoined node lead RUNS: every append and (leader) read of a run goes through it.
    const stepdown = `$JS.API.STREAM.LEADER.STEPDOWN.${RUNS_0}`;
    let answer = "";
    await waitFor(
      async () => {
        const info = await runtime.nats.jsm.streams.info(RUNS_0);
        if (info.cluster?.leader === victimName) return true;
        const m = await runtime.nats.nc.request(
          stepdown,
          JSON.stringify({ placement: { preferred: victimName } }),
          {
            timeout: 5000,
          },
        );
        answer = m.string();
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 2000, message: `${victimName} did not become RUNS leader` },
    ).catch(async (e: Error) => {
      e.message += ` (last step-down answer: ${answer})\n${await diagnostics()}`;
      throw e;
    });

    await runBatch(200, { go: 50, naps: 10, waits: 10 }, `${victimName}-led RUNS`);

    // A client connected only to the rejoined node sees RUNS with every replica current.
    viaVictim = await connectNats({ servers: victim.url, ignoreClusterUpdates: true, name: "via-rejoined" });
    const info = await viaVictim.jsm.streams.info(RUNS_0);
    const members = [
      info.cluster?.leader,
      ...(info.cluster?.replicas ?? []).filter((r) => r.current).map((r) => r.name),
    ];
    assert.ok(members.includes(victimName), `RUNS as ${victimName} sees it: ${JSON.stringify(info.cluster)}`);
    t.diagnostic(`RUNS leader after the ${victimName}-led batch: ${info.cluster?.leader}`);
  });

  it("ran every acknowledged event's run exactly once, with its output", async (t) => {
    // One run per acknowledged event, Completed with the output its data asks for.
    const problems: string[] = [];
    const runOf = new Map<string, ApiRun>();
    const events = [...acked];
    const found = await Promise.all(events.map(([id]) => eventRuns(url, id).catch((e: Error) => e.message)));
    events.forEach(([id, { fn, i }], k) => {
      const runs = found[k];
      const run = Array.isArray(runs) && runs.length === 1 ? runs[0] : undefined;
      if (!run) problems.push(`event ${id} (${fn} i=${i}): ${JSON.stringify(runs)?.slice(0, 200)}`);
      else if (run.status !== "Completed" || run.output !== OUTPUT[fn](i))
        problems.push(
          `event ${id} (${fn} i=${i}) run ${run.run_id}: ${run.status}, output ${JSON.stringify(run.output)}`,
        );
      else runOf.set(id, run);
    });
    assert.deepEqual(
      problems,
      [],
      `runs that are not one completed run with its output:\n${problems.join("\n")}`,
    );
    const runIds = [...runOf.values()].map((r) => r.run_id);
    assert.equal(new Set(runIds).size, runIds.length, "two events share a run");

    // One `inngest/function.finished` per run.
    const finished = async (): Promise<Map<string, number>> => {
      const counts = new Map<string, number>();
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `&cursor=${cursor}` : "";
        const res = await fetch(`${url}/v1/events?name=inngest/function.finished&limit=200${q}`);
        const page = (await res.json()) as { data: { data: { run_id?: string } }[]; cursor: string | null };
        for (const e of page.data) {
          const runId = e.data.run_id ?? "?";
          counts.set(runId, (counts.get(runId) ?? 0) + 1);
        }
        cursor = page.cursor;
      } while (cursor);
      return counts;
    };
    let counts = new Map<string, number>();
    await waitFor(
      async () => {
        counts = await finished();
        return runIds.every((id) => counts.has(id)) || runIds.some((id) => (counts.get(id) ?? 0) > 1);
      },
      { timeoutMs: 30_000, intervalMs: 1000, message: "not every run emitted inngest/function.finished" },
    ).catch((e: Error) => {
      e.message += ` (missing for ${runIds.filter((id) => !counts.has(id)).join(", ")})`;
      throw e;
    });
    const notOnce = runIds.filter((id) => counts.get(id) !== 1).map((id) => `${id}: ${counts.get(id)}`);
    assert.deepEqual(
      notOnce,
      [],
      `runs without exactly one inngest/function.finished: ${notOnce.join(", ")}`,
    );

    // Each run's log as the rejoined node serves it: entries 1…n, one end (the last entry), no
    // step result recorded twice.
    const via = viaVictim ?? runtime.nats;
    const logProblems: string[] = [];
    let retried = 0;
    for (const runId of runIds) {
      const entries: { n: number; type: string; stepId?: string }[] = [];
      const at = runLocation(await readRunsLayout(via.jsm), runId);
      for await (const m of scanSubjects(via.jsm, at.stream, at.subject, { direct: true }))
        entries.push(...(m.json() as typeof entries));
      const ends = entries.filter((e) => TERMINAL.has(e.type));
      const stepIds = entries.filter((e) => e.type === "step.completed").map((e) => e.stepId);
      retried += entries.filter((e) => e.type === "step.errored").length;
      if (entries.some((e, k) => e.n !== k + 1))
        logProblems.push(`${runId}: entries ${entries.map((e) => e.n)}`);
      if (ends.length !== 1 || entries.at(-1)?.type !== "run.completed")
        logProblems.push(`${runId}: ends ${ends.map((e) => e.type)}, last ${entries.at(-1)?.type}`);
      if (new Set(stepIds).size !== stepIds.length) logProblems.push(`${runId}: steps recorded ${stepIds}`);
    }
    assert.deepEqual(logProblems, [], `run logs read from ${victimName}:\n${logProblems.join("\n")}`);

    // A recorded step never runs again: `a` recorded before the kill, any step of a run completed
    // before the restart.
    const again: string[] = [];
    for (const [runId, n] of aRecordedAtKill) {
      const ts = executions.get(`${runId}:a`) ?? [];
      if (ts.length !== n) again.push(`${runId}:a recorded before the kill, ran at ${ts.map(at).join(", ")}`);
    }
    for (const [key, n] of atRestart) {
      const ts = executions.get(key) ?? [];
      if (ts.length !== n)
        again.push(`${key} of a run completed before the restart, ran at ${ts.map(at).join(", ")}`);
    }
    const repeated = [...executions].filter(([, ts]) => ts.length > 1);
    const total = [...executions.values()].reduce((s, ts) => s + ts.length, 0);
    const report = `${total} step executions for ${executions.size} steps of ${runIds.length} runs; ${retried} step.errored entries; run more than once: ${repeated.map(([k, ts]) => `${k} at ${ts.map(at).join(", ")}`).join("; ") || "none"}`;
    t.diagnostic(report);
    assert.deepEqual(again, [], `recorded steps ran again:\n${again.join("\n")}\n${report}`);
  });
});
