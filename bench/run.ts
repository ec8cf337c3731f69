/**
 * `npm run bench`: prints figures, asserts nothing (machines here are noisy; compare ratios
 * within one run).
 *
 * W1: 200 runs × 10 sequential step.run steps through the real path (gateway → EVENTS → matcher →
 * INBOX → executor → app → RUNS): over HTTP with an app on our SDK and with the official `inngest`
 * SDK, and over NATS with our SDK's worker, next to the raw ack'd JetStream publish rate of the
 * same server; and over HTTP again with OpenTelemetry exporting every span. Each prints CPU per
 * step for each process (Jetstep, nats-server, the app).
 *
 * W2: latency, one 1-step run at a time (W2_RUNS, default 200): p50/p99 end to end (event POST →
 * run seen Completed, client side) and of the run itself (run_started_at → ended_at).
 *
 * W3: fan-out, one parent and W3_CHILDREN children (default 1,000) of one trivial step each:
 * `Promise.all` of `step.invoke` (the parent sums the results), then one `step.sendEvent` of N
 * events (the parent does not wait; timed until every child is Completed). Wall time, children/s,
 * CPU per child of each process. A workload that fails prints one line saying why and the bench
 * goes on.
 *
 * W4: durable timers (see w4.ts).
 *
 * The server is the pinned nats-server with `sync_interval: always` (fsync before every ack), as
 * `jetstep dev` and the production configs run it; the first line says which version and mode the
 * server reports. BENCH_SYNC=interval runs it with the default 2-minute sync instead.
 * BENCH_LOG=<file> appends the W3 runtimes' warnings and errors to a file.
 * BENCH_RUN_SHARDS=n makes the store with n run log streams (default 4; see jetstream/runs-layout.ts).
 */
import { appendFileSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { startRuntime } from "@jetstep/cli";
import { InternalEvents, Subjects } from "@jetstep/core";
import { connectNats, ensureStreams, Publisher } from "@jetstep/jetstream";
import { silentLogger, startTracing } from "@jetstep/telemetry";
import pino from "pino";
import {
  freePort,
  type NatsServerHandle,
  spawnTs,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../test/support/index.ts";
import { w4 } from "./w4.ts";

const RUNS = Number(process.env.W1_RUNS ?? 200);
const STEPS = 10;
/** W1 runs before each measured batch, to warm up the JIT of every process. */
const WARMUP_RUNS = Number(process.env.W1_WARMUP ?? 200);

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Ack'd publishes per second (pipelined), and the p50 of one ack'd publish at a time (ms). */
async function rawPublish(url: string): Promise<{ rate: number; latencyMs: number }> {
  const nats = await connectNats({ servers: url });
  await nats.jsm.streams.add({ name: "BENCH", subjects: ["bench.>"] });
  const pub = new Publisher(nats.nc);
  const latencies: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await pub.publish(`bench.${i % 100}`, "x".repeat(200));
    latencies.push(performance.now() - t0);
  }
  const total = 50_000;
  const window = 1024;
  const start = performance.now();
  for (let i = 0; i < total; i += window) {
    await Promise.all(
      Array.from({ length: Math.min(window, total - i) }, (_, j) =>
        pub.publish(`bench.${(i + j) % 100}`, "x".repeat(200)),
      ),
    );
  }
  const rate = total / ((performance.now() - start) / 1000);
  pub.close();
  await nats.jsm.streams.delete("BENCH");
  await nats.close();
  latencies.sort((a, b) => a - b);
  return { rate, latencyMs: pct(latencies, 50) };
}

interface W1Result {
  stepsPerS: number;
}

async function w1(
  server: NatsServerHandle,
  label: string,
  appFile: string,
  rawRate: number,
  eventName = "bench/w1",
  transport: "HTTP" | "NATS" = "HTTP",
  traced = false,
): Promise<W1Result> {
  const appPort = await freePort();
  // Tracing on: spans go over OTLP/HTTP to a local sink that only counts them.
  const sink = traced ? await startOtlpSink() : undefined;
  const tracing = sink
    ? await (async () => {
        process.env.OTEL_EXPORTER_OTLP_ENDPOINT = sink.url;
        process.env.OTEL_EXPORTER_OTLP_PROTOCOL = "http/json";
        return startTracing({ serviceName: "jetstep-bench" });
      })()
    : undefined;
  const natsUrl = server.url;
  const runtime = await startRuntime({
    natsUrl,
    host: "127.0.0.1",
    port: 0,
    appUrls: transport === "HTTP" ? [`http://127.0.0.1:${appPort}/api/inngest`] : [],
    syncIntervalMs: 500,
    log: silentLogger(),
  });
  const app = spawnTs(fileURLToPath(new URL(appFile, import.meta.url)), [], {
    env: {
      PORT: String(appPort),
      INNGEST_DEV: "1",
      INNGEST_BASE_URL: runtime.gatewayUrl,
      JETSTEP_BASE_URL: runtime.gatewayUrl,
      NATS_URL: natsUrl,
    },
  });
  try {
    await app.waitForLine(/listening/, 30_000);
    await waitFor(
      async () => {
        // The app must have synced from its new port (an earlier W1 run left a registration behind).
        const apps = (await (await fetch(`${runtime.gatewayUrl}/v1/apps`)).json()) as {
          data: { appId: string; url: string }[];
        };
        const expected = transport === "HTTP" ? `:${appPort}/` : "nats://bench";
        return apps.data.some((a) => a.appId === "bench" && a.url.includes(expected));
      },
      { timeoutMs: 30_000 },
    );
    // Runs are seen ending through their `inngest/function.finished` events (a NATS subscription),
    // not by polling the REST API: the poll's CPU would count as Jetstep's. The runs' details
    // (latencies) are read once all have ended, after the CPU figures are taken.
    const watcher = await connectNats({ servers: server.url });
    const finished = new Set<string>();
    watcher.nc.subscribe(Subjects.event(InternalEvents.functionFinished), {
      callback: (_err, m) => {
        const id = (m.json() as { data?: { event?: { id?: string } } }).data?.event?.id;
        if (id) finished.add(id);
      },
    });
    await watcher.nc.flush();
    // Warm-up, not measured: the first runs pay for JIT compilation in every process (the first
    // variant measured cold was ~40% above the same variant measured warm).
    const warm = (await (
      await fetch(`${runtime.gatewayUrl}/e/bench`, {
        method: "POST",
        body: JSON.stringify(
          Array.from({ length: WARMUP_RUNS }, (_, i) => ({ name: eventName, data: { i } })),
        ),
      })
    ).json()) as { ids: string[] };
    await waitFor(() => warm.ids.every((id) => finished.has(id)), { timeoutMs: 120_000, intervalMs: 20 });
    const seqBefore = await streamSeqs(watcher);
    const cpuBefore = process.cpuUsage();
    const appCpuBefore = cpuSecondsOf(app.pid);
    const serverCpuBefore = cpuSecondsOf(server.pid);
    const events = Array.from({ length: RUNS }, (_, i) => ({ name: eventName, data: { i, label } }));
    const start = Date.now();
    const res = await fetch(`${runtime.gatewayUrl}/e/bench`, {
      method: "POST",
      body: JSON.stringify(events),
    });
    const { ids } = (await res.json()) as { ids: string[] };
    await waitFor(() => ids.every((id) => finished.has(id)), { timeoutMs: 600_000, intervalMs: 20 });
    const cpu = process.cpuUsage(cpuBefore);
    const appCpu = cpuSecondsOf(app.pid) - appCpuBefore;
    const serverCpu = cpuSecondsOf(server.pid) - serverCpuBefore;
    const writes = writesPerRun(seqBefore, await streamSeqs(watcher), RUNS);
    await watcher.close();
    type Run = { status: string; run_started_at: string; ended_at: string | null };
    const runs = await Promise.all(
      ids.map(async (id) => {
        const r = await fetch(`${runtime.gatewayUrl}/v1/events/${id}/runs`);
        const run = r.status === 200 ? ((await r.json()) as { data: Run[] }).data[0] : undefined;
        if (run?.status !== "Completed") throw new Error(`run of event ${id} ended ${run?.status}`);
        return run;
      }),
    );
    const lastEnd = Math.max(...runs.map((r) => Date.parse(r.ended_at as string)));
    const wallS = (lastEnd - start) / 1000;
    const latencies = runs
      .map((r) => Date.parse(r.ended_at as string) - Date.parse(r.run_started_at))
      .sort((a, b) => a - b);
    const stepsPerS = (RUNS * STEPS) / wallS;
    console.log(
      `W1  ${RUNS} runs × ${STEPS} steps over ${transport} — app on ${label}${traced ? ", tracing on" : ""}`,
    );
    console.log(`    wall time (first event → last run end)  ${wallS.toFixed(2)} s`);
    console.log(`    steps/s                                 ${stepsPerS.toFixed(0)}`);
    console.log(
      `    run latency p50 / p99                   ${pct(latencies, 50)} / ${pct(latencies, 99)} ms`,
    );
    console.log(`    raw JetStream publish / steps           ${(rawRate / stepsPerS).toFixed(0)}×`);
    // CPU per step, per process: the Jetstep process (the bench's own share is its event
    // subscription), nats-server and the app.
    const jetstepCpu = (cpu.user + cpu.system) / 1e6;
    const perStep = (seconds: number) => ((seconds * 1000) / (RUNS * STEPS)).toFixed(2);
    console.log(
      `    CPU per step (ms)                       jetstep ${perStep(jetstepCpu)}, nats-server ${perStep(serverCpu)}, app ${perStep(appCpu)}; total ${perStep(jetstepCpu + serverCpu + appCpu)}`,
    );
    console.log(`    stored messages per run                 ${writes}`);
    if (sink && tracing) {
      await tracing.shutdown();
      console.log(`    spans exported (OTLP/HTTP JSON)         ${sink.spans()}`);
    }
    return { stepsPerS };
  } finally {
    await app.kill("SIGKILL");
    await runtime.stop();
    await tracing?.shutdown();
    sink?.close();
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  }
}

/** The last sequence of every stream (KV buckets included): what has been written to each. */
async function streamSeqs(nats: Awaited<ReturnType<typeof connectNats>>): Promise<Map<string, number>> {
  const seqs = new Map<string, number>();
  for await (const s of nats.jsm.streams.list()) seqs.set(s.config.name, s.state.last_seq);
  return seqs;
}

/** Messages stored per run in each stream between two readings (each is one fsync'd write). */
function writesPerRun(before: Map<string, number>, after: Map<string, number>, runs: number): string {
  const parts: [string, number][] = [];
  let total = 0;
  for (const [name, seq] of after) {
    const n = seq - (before.get(name) ?? 0);
    if (n <= 0) continue;
    total += n;
    parts.push([name.replace(/^KV_JETSTEP_/, ""), n / runs]);
  }
  parts.sort((a, b) => b[1] - a[1]);
  return `${(total / runs).toFixed(1)} (${parts.map(([n, v]) => `${n} ${v.toFixed(1)}`).join(", ")})`;
}

/** A run as the REST API shows it (the fields the benchmarks read). */
interface ApiRun {
  run_id: string;
  status: string;
  phase?: string;
  event_id: string | null;
  run_started_at: string;
  ended_at: string | null;
  output: unknown;
  error: { name?: string; message?: string } | null;
}

const row = (label: string, value: string): void => console.log(`    ${label.padEnd(40)}${value}`);

/** CPU seconds used since the call by this process (Jetstep), nats-server and the app. */
function cpuMeter(serverPid: number, appPid: number): () => { jetstep: number; server: number; app: number } {
  const before = process.cpuUsage();
  const serverBefore = cpuSecondsOf(serverPid);
  const appBefore = cpuSecondsOf(appPid);
  return () => {
    const own = process.cpuUsage(before);
    return {
      jetstep: (own.user + own.system) / 1e6,
      server: cpuSecondsOf(serverPid) - serverBefore,
      app: cpuSecondsOf(appPid) - appBefore,
    };
  };
}

function printCpu(label: string, used: { jetstep: number; server: number; app: number }, per: number): void {
  const ms = (seconds: number) => ((seconds * 1000) / per).toFixed(2);
  row(
    label,
    `jetstep ${ms(used.jetstep)}, nats-server ${ms(used.server)}, app ${ms(used.app)}; total ${ms(used.jetstep + used.server + used.app)}`,
  );
}

/**
 * Starts the runtime in this process (as W1 does) and `appFile` as a child process serving
 * `appId` over HTTP, waits for the app's registration, runs `body`, then stops both.
 */
async function withApp<T>(
  server: NatsServerHandle,
  appFile: string,
  appId: string,
  body: (url: string, app: TsProcess, lastError: () => string | undefined) => Promise<T>,
): Promise<T> {
  const appPort = await freePort();
  // The runtime's log, errors only and not printed: the last one says why a workload failed.
  // BENCH_LOG=<file> also appends its warnings and errors to that file.
  let lastError: string | undefined;
  const logFile = process.env.BENCH_LOG;
  const log = pino(
    { level: logFile ? "warn" : "error" },
    {
      write(line: string) {
        if (logFile) appendFileSync(logFile, line);
        if (!line.includes('"level":50')) return;
        try {
          const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
          lastError = `${entry.msg}${entry.err?.message ? `: ${entry.err.message}` : ""}`;
        } catch {
          lastError = line;
        }
      },
    },
  );
  const runtime = await startRuntime({
    natsUrl: server.url,
    host: "127.0.0.1",
    port: 0,
    appUrls: [`http://127.0.0.1:${appPort}/api/inngest`],
    syncIntervalMs: 500,
    log,
  });
  const app = spawnTs(fileURLToPath(new URL(appFile, import.meta.url)), [], {
    env: { PORT: String(appPort), JETSTEP_BASE_URL: runtime.gatewayUrl },
  });
  try {
    await app.waitForLine(/listening/, 30_000);
    await waitFor(
      async () => {
        const apps = (await (await fetch(`${runtime.gatewayUrl}/v1/apps`)).json()) as {
          data: { appId: string; url: string }[];
        };
        return apps.data.some((a) => a.appId === appId && a.url.includes(`:${appPort}/`));
      },
      { timeoutMs: 30_000 },
    );
    return await body(runtime.gatewayUrl, app, () => lastError);
  } finally {
    await app.kill("SIGKILL");
    await runtime.stop();
  }
}

async function postEvents(url: string, events: unknown[]): Promise<string[]> {
  const res = await fetch(`${url}/e/bench`, { method: "POST", body: JSON.stringify(events) });
  if (!res.ok) throw new Error(`POST /e/bench answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return ((await res.json()) as { ids: string[] }).ids;
}

/** The (single) run an event started, or undefined while the event is not processed yet. */
async function runOfEvent(url: string, eventId: string): Promise<ApiRun | undefined> {
  const r = await fetch(`${url}/v1/events/${eventId}/runs`);
  if (r.status === 404) return undefined;
  if (!r.ok) throw new Error(`GET /v1/events/${eventId}/runs answered ${r.status}`);
  return ((await r.json()) as { data: ApiRun[] }).data[0];
}

function checkNotFailed(run: ApiRun | undefined): void {
  if (run && (run.status === "Failed" || run.status === "Cancelled")) {
    const why = run.error ? `${run.error.name ?? "Error"}: ${run.error.message ?? ""}` : "no error recorded";
    throw new Error(`run ${run.run_id} ${run.status}: ${why}`);
  }
}

/**
 * Polls the run of `eventId` every `intervalMs` until it is Completed, and returns it with how many
 * GETs it took. Throws if the run fails, is not Completed within `timeoutMs`, or (with `stallMs`)
 * shows no change for that long; the message ends with the runtime's last logged error, if any.
 */
async function awaitCompleted(
  url: string,
  eventId: string,
  opts: {
    intervalMs: number;
    timeoutMs: number;
    stallMs?: number;
    lastError?: () => string | undefined;
    /** A count that grows while the run makes progress its list entry does not show (children ended). */
    progress?: () => number;
  },
): Promise<{ run: ApiRun; polls: number }> {
  const start = Date.now();
  let seen = "";
  let changedAt = start;
  for (let polls = 1; ; polls++) {
    const run = await runOfEvent(url, eventId);
    if (run?.status === "Completed") return { run, polls };
    checkNotFailed(run);
    const now = Date.now();
    const state = `${JSON.stringify(run ?? null)} ${opts.progress?.() ?? ""}`;
    if (state !== seen) [seen, changedAt] = [state, now];
    const stallMs = opts.stallMs ?? Number.POSITIVE_INFINITY;
    const stalled = now - changedAt > stallMs;
    if (stalled || now - start > opts.timeoutMs) {
      const why = opts.lastError?.();
      throw new Error(
        `run of event ${eventId} ${stalled ? `unchanged for ${stallMs / 1000} s` : `not Completed after ${opts.timeoutMs / 1000} s`} (${run ? `${run.status}, phase ${run.phase}` : "no run yet"})${why ? `; the runtime's last error: ${why}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs));
  }
}

const W2_RUNS = Number(process.env.W2_RUNS ?? 200);
const W3_TIMEOUT_MS = Number(process.env.W3_TIMEOUT_S ?? 600) * 1000;
/** A W3 run or fan-out that shows no progress for this long has failed. */
const W3_STALL_MS = 60_000;

async function w2(server: NatsServerHandle, raw: { rate: number; latencyMs: number }): Promise<void> {
  await withApp(server, "./w2-app.ts", "bench-w2", async (url, app, lastError) => {
    const cpu = cpuMeter(server.pid, app.pid);
    const endToEnd: number[] = [];
    const runLatency: number[] = [];
    let polls = 0;
    let lastId = "";
    const start = performance.now();
    for (let i = 0; i < W2_RUNS; i++) {
      const t0 = performance.now();
      lastId = (await postEvents(url, [{ name: "bench/w2", data: { i } }]))[0] as string;
      // The client-side figure includes polling granularity: after the POST returns, a GET every
      // ~1 ms (setTimeout 1), so it overstates by up to about 1 ms plus one GET's round trip.
      const done = await awaitCompleted(url, lastId, { intervalMs: 1, timeoutMs: 30_000, lastError });
      endToEnd.push(performance.now() - t0);
      polls += done.polls;
      runLatency.push(Date.parse(done.run.ended_at as string) - Date.parse(done.run.run_started_at));
    }
    const wallS = (performance.now() - start) / 1000;
    const used = cpu();
    // What one of those GETs costs the Jetstep process, measured on a completed run afterwards.
    const getCpu = cpuMeter(server.pid, app.pid);
    for (let i = 0; i < 100; i++) await runOfEvent(url, lastId);
    const perGetMs = (getCpu().jetstep * 1000) / 100;
    const ms = (sorted: number[], p: number) => pct(sorted, p).toFixed(1);
    endToEnd.sort((a, b) => a - b);
    runLatency.sort((a, b) => a - b);
    console.log(`W2  ${W2_RUNS} runs × 1 step, one at a time — app on our SDK over HTTP`);
    row(
      "end to end p50 / p99",
      `${ms(endToEnd, 50)} / ${ms(endToEnd, 99)} ms (POST → seen Completed, client side; a GET every ~1 ms)`,
    );
    row("run latency p50 / p99 (start → end)", `${ms(runLatency, 50)} / ${ms(runLatency, 99)} ms`);
    row("runs/s (one at a time)", (W2_RUNS / wallS).toFixed(0));
    row(
      "raw JetStream ack'd publish",
      `p50 ${raw.latencyMs.toFixed(2)} ms one at a time; ${raw.rate.toFixed(0)} msg/s pipelined`,
    );
    printCpu("CPU per run (ms)", used, W2_RUNS);
    row(
      "of which polling (jetstep, estimated)",
      `${((polls / W2_RUNS) * perGetMs).toFixed(2)} ms: ${(polls / W2_RUNS).toFixed(1)} GETs per run × ${perGetMs.toFixed(2)} ms`,
    );
  });
}

/** `Promise.all` of `n` `step.invoke` in one parent run, until the parent is Completed. */
async function w3Invoke(server: NatsServerHandle, n: number, rawRate: number): Promise<void> {
  await withApp(server, "./w3-app.ts", "bench-w3", async (url, app, lastError) => {
    // Children that ended, seen through their `inngest/function.finished` events: while they are
    // started and run, the parent's list entry stays "waiting", so progress is counted here too.
    const watcher = await connectNats({ servers: server.url });
    let childrenEnded = 0;
    watcher.nc.subscribe(Subjects.event(InternalEvents.functionFinished), {
      callback: (_err, m) => {
        if ((m.json() as { data?: { function_id?: string } }).data?.function_id === "bench-w3-child")
          childrenEnded++;
      },
    });
    await watcher.nc.flush();
    const cpu = cpuMeter(server.pid, app.pid);
    const start = Date.now();
    const [id] = await postEvents(url, [{ name: "bench/w3-invoke", data: { n } }]);
    // Polled once a second (the wall time comes from the run's ended_at): a parent unchanged, with
    // no child ending, for W3_STALL_MS is stuck.
    const { run } = await awaitCompleted(url, id as string, {
      intervalMs: 1000,
      timeoutMs: W3_TIMEOUT_MS,
      stallMs: W3_STALL_MS,
      lastError,
      progress: () => childrenEnded,
    })
      .finally(() => watcher.close())
      .catch(async (e: Error) => {
        // A stuck parent would be retried through the next workloads on this server: cancel it.
        const parent = await runOfEvent(url, id as string).catch(() => undefined);
        if (!parent) throw e;
        const res = await fetch(`${url}/v1/runs/${parent.run_id}`, { method: "DELETE" }).catch(
          () => undefined,
        );
        const after =
          res?.status === 200 ? "cancelled" : `not cancelled (DELETE answered ${res?.status ?? "nothing"})`;
        throw new Error(`${e.message}; parent ${after}`);
      });
    const used = cpu();
    const wallS = (Date.parse(run.ended_at as string) - start) / 1000;
    const expected = (n * (n - 1)) / 2;
    console.log(
      `W3  fan-out: 1 parent, Promise.all of ${n.toLocaleString("en")} step.invoke (1 step each) — our SDK over HTTP`,
    );
    row("wall time (event → parent ended)", `${wallS.toFixed(2)} s`);
    row("children/s", (n / wallS).toFixed(0));
    row(
      "parent's sum",
      `${String(run.output)}${run.output === expected ? " (right)" : ` (expected ${expected})`}`,
    );
    row("raw JetStream publish / children/s", `${(rawRate / (n / wallS)).toFixed(0)}×`);
    printCpu("CPU per child (ms)", used, n);
  });
}

/**
 * Completed runs of `functionId` newer than the ones already in `seen`, added to it. A run's
 * index record is final once Completed and newer records come first, so paging stops at the
 * first run already seen: each poll reads only what changed since the previous one.
 */
async function addCompletedRuns(url: string, functionId: string, seen: Map<string, ApiRun>): Promise<void> {
  let cursor: string | null = null;
  for (;;) {
    const q = new URLSearchParams({ function_id: functionId, status: "Completed", limit: "200" });
    if (cursor) q.set("cursor", cursor);
    const r = await fetch(`${url}/v1/runs?${q}`);
    if (!r.ok) throw new Error(`GET /v1/runs answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
    const page = (await r.json()) as { data: ApiRun[]; cursor: string | null };
    let reachedSeen = false;
    for (const run of page.data) {
      if (seen.has(run.run_id)) reachedSeen = true;
      else seen.set(run.run_id, run);
    }
    if (reachedSeen || page.cursor === null) return;
    cursor = page.cursor;
  }
}

/** One `step.sendEvent` of `n` events to a child function, until every child is Completed. */
async function w3Send(server: NatsServerHandle, n: number, rawRate: number): Promise<void> {
  await withApp(server, "./w3-app.ts", "bench-w3", async (url, app, lastError) => {
    try {
      await w3SendIn(url, app, lastError, server, n, rawRate);
    } catch (e) {
      // Runs left behind would be retried through the next workloads on this server: cancel them.
      for (const function_id of ["bench-w3-fan-out-send", "bench-w3-event-child"]) {
        await fetch(`${url}/v1/cancellations`, {
          method: "POST",
          body: JSON.stringify({ function_id }),
        }).catch(() => undefined);
      }
      throw e;
    }
  });
}

async function w3SendIn(
  url: string,
  app: TsProcess,
  lastError: () => string | undefined,
  server: NatsServerHandle,
  n: number,
  rawRate: number,
): Promise<void> {
  const cpu = cpuMeter(server.pid, app.pid);
  const start = Date.now();
  const [id] = await postEvents(url, [{ name: "bench/w3-send", data: { n } }]);
  const { run: parent } = await awaitCompleted(url, id as string, {
    intervalMs: 500,
    timeoutMs: W3_TIMEOUT_MS,
    stallMs: W3_STALL_MS,
    lastError,
  });
  const sent = new Set((parent.output as { ids: string[] }).ids);
  // Children are found with `GET /v1/runs?function_id=…&status=Completed`, polled every 500 ms;
  // the wall time is taken from their ended_at, so the interval does not change it.
  const seen = new Map<string, ApiRun>();
  const mine = () => [...seen.values()].filter((r) => r.event_id !== null && sent.has(r.event_id));
  let count = 0;
  let progressAt = Date.now();
  for (;;) {
    if (Date.now() - start > W3_TIMEOUT_MS) throw new Error(`not done after ${W3_TIMEOUT_MS / 1000} s`);
    await addCompletedRuns(url, "bench-w3-event-child", seen);
    const now = mine().length;
    if (now >= n) break;
    if (now > count) [count, progressAt] = [now, Date.now()];
    else if (Date.now() - progressAt > W3_STALL_MS) {
      const why = lastError();
      throw new Error(
        `${count} of ${n} children Completed, none more in ${W3_STALL_MS / 1000} s${why ? `; the runtime's last error: ${why}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const used = cpu();
  const children = mine();
  const wallS = (Math.max(...children.map((r) => Date.parse(r.ended_at as string))) - start) / 1000;
  const parentS = (Date.parse(parent.ended_at as string) - start) / 1000;
  console.log(
    `W3  fan-out: 1 parent, one step.sendEvent of ${n.toLocaleString("en")} events, a 1-step child each — our SDK over HTTP`,
  );
  row(
    "wall time (event → last child ended)",
    `${wallS.toFixed(2)} s (parent ended after ${parentS.toFixed(2)} s)`,
  );
  row("children/s", (n / wallS).toFixed(0));
  row("raw JetStream publish / children/s", `${(rawRate / (n / wallS)).toFixed(0)}×`);
  // Jetstep's share includes serving the listing GETs above.
  printCpu("CPU per child (ms)", used, n);
}

/** Runs one workload; a failure prints one line and the bench goes on. */
async function guard(label: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").slice(0, 400);
    console.log(`${label} FAILED: ${why}`);
  }
}

/** An OTLP/HTTP JSON endpoint that counts the spans it receives. */
async function startOtlpSink(): Promise<{ url: string; spans(): number; close(): void }> {
  let spans = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as {
        resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
      };
      for (const rs of body.resourceSpans ?? [])
        for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans: () => spans,
    close: () => server.close(),
  };
}

/**
 * The server's version and JetStream sync mode, as its monitoring endpoint reports them (not as
 * we asked for them): the figures mean little without knowing whether every ack waited for fsync.
 */
async function describeServer(server: NatsServerHandle): Promise<string> {
  const varz = (await (await fetch(`${server.monitorUrl}/varz`)).json()) as {
    version: string;
    jetstream?: { config?: { sync_always?: boolean; sync_interval?: number } };
  };
  const cfg = varz.jetstream?.config ?? {};
  const mode = cfg.sync_always
    ? "sync_interval: always (every write fsynced before its ack)"
    : `sync_interval: ${Math.round((cfg.sync_interval ?? 120e9) / 1e9)} s (acks before fsync; a power loss can lose acknowledged writes)`;
  return `nats-server ${varz.version}, R1 file store, ${mode}`;
}

// `npm run bench -- w1` (or w2, w3, w4) runs one workload; W2_RUNS, W3_CHILDREN, W4_SLEEPERS set
// their sizes. BENCH_SYNC=interval runs the server with its default sync interval instead of
// `always`. BENCH_RUN_SHARDS sets how many streams hold run logs (default: what a new store gets).
const only = process.argv[2];
if (only !== undefined && !["w1", "w2", "w3", "w4"].includes(only)) {
  console.error(`unknown workload ${JSON.stringify(only)}: w1, w2, w3 or w4`);
  process.exit(2);
}
const syncMode = process.env.BENCH_SYNC ?? "always";
if (syncMode !== "always" && syncMode !== "interval") {
  console.error(`BENCH_SYNC must be "always" or "interval", got ${JSON.stringify(syncMode)}`);
  process.exit(2);
}
const server = await startNatsServer({ syncAlways: syncMode === "always", monitor: true });
try {
  console.log(`server: ${await describeServer(server)}`);
  {
    // Every runtime the bench starts uses the store's layout, fixed here by the first one to make it.
    const nats = await connectNats({ servers: server.url });
    const shards = process.env.BENCH_RUN_SHARDS;
    const layout = await ensureStreams(nats.jsm, {
      replicas: 1,
      ...(shards !== undefined ? { runShards: Number(shards) } : {}),
    });
    await nats.close();
    console.log(`run logs: ${layout.shards} RUNS_<k> streams`);
  }
  const raw = only === "w4" ? undefined : await rawPublish(server.url);
  if (raw)
    console.log(`raw JetStream publish (pipelined, ack'd, R1, same server): ${raw.rate.toFixed(0)} msg/s`);
  if (raw && (!only || only === "w1")) {
    await guard("W1", async () => {
      const free = await w1(server, "our SDK (jetstep)", "./w1-app-jetstep.ts", raw.rate);
      const limited = await w1(
        server,
        "our SDK, concurrency: 50",
        "./w1-app-jetstep.ts",
        raw.rate,
        "bench/w1-limited",
      );
      console.log(
        `W1  cost of flow control: concurrency 50 runs at ${((100 * limited.stepsPerS) / free.stepsPerS).toFixed(0)}% of the unlimited throughput`,
      );
      await w1(server, "the official inngest SDK", "./w1-app.ts", raw.rate);
      const overNats = await w1(
        server,
        "our SDK as a NATS worker",
        "./w1-app-worker.ts",
        raw.rate,
        "bench/w1",
        "NATS",
      );
      console.log(
        `W1  NATS worker vs HTTP (our SDK): ${((100 * overNats.stepsPerS) / free.stepsPerS).toFixed(0)}% of the HTTP throughput`,
      );
      // Last: once the OpenTelemetry SDK has been shut down, this process cannot start it again.
      const traced = await w1(
        server,
        "our SDK (jetstep)",
        "./w1-app-jetstep.ts",
        raw.rate,
        "bench/w1",
        "HTTP",
        true,
      );
      console.log(
        `W1  cost of tracing (every span exported): ${((100 * traced.stepsPerS) / free.stepsPerS).toFixed(0)}% of the untraced throughput`,
      );
    });
  }
  if (raw && (!only || only === "w2")) await guard("W2", () => w2(server, raw));
  if (raw && (!only || only === "w3")) {
    const n = Number(process.env.W3_CHILDREN ?? 1000);
    await guard(`W3  fan-out of ${n.toLocaleString("en")} with step.invoke`, () =>
      w3Invoke(server, n, raw.rate),
    );
    await guard(`W3  fan-out of ${n.toLocaleString("en")} with step.sendEvent`, () =>
      w3Send(server, n, raw.rate),
    );
  }
  if (!only || only === "w4") await guard("W4", () => w4(server, Number(process.env.W4_SLEEPERS ?? 100_000)));
} finally {
  await server.stop();
}
