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
 * The server is the pinned nats-server with `sync_interval: always` (fsync before every ack), as
 * `jetstep dev` and the production configs run it; the first line says which version and mode the
 * server reports. BENCH_SYNC=interval runs it with the default 2-minute sync instead.
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { startRuntime } from "@jetstep/cli";
import { connectNats, Publisher } from "@jetstep/jetstream";
import { silentLogger, startTracing } from "@jetstep/telemetry";
import { freePort, type NatsServerHandle, spawnTs, startNatsServer, waitFor } from "../test/support/index.ts";
import { w4 } from "./w4.ts";

const RUNS = Number(process.env.W1_RUNS ?? 200);
const STEPS = 10;

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

async function rawPublishRate(url: string): Promise<number> {
  const nats = await connectNats({ servers: url });
  await nats.jsm.streams.add({ name: "BENCH", subjects: ["bench.>"] });
  const pub = new Publisher(nats.nc);
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
  return rate;
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
    type Run = { status: string; run_started_at: string; ended_at: string | null };
    // Poll only runs not yet seen completed, once a second, so polling stays a small part of the load.
    const done = new Map<string, Run>();
    await waitFor(
      async () => {
        const pending = ids.filter((id) => !done.has(id));
        await Promise.all(
          pending.map(async (id) => {
            const r = await fetch(`${runtime.gatewayUrl}/v1/events/${id}/runs`);
            const run = r.status === 200 ? ((await r.json()) as { data: Run[] }).data[0] : undefined;
            if (run?.status === "Completed") done.set(id, run);
          }),
        );
        return done.size === ids.length;
      },
      { timeoutMs: 600_000, intervalMs: 1000 },
    );
    const runs = [...done.values()];
    const cpu = process.cpuUsage(cpuBefore);
    const appCpu = cpuSecondsOf(app.pid) - appCpuBefore;
    const serverCpu = cpuSecondsOf(server.pid) - serverCpuBefore;
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
    // CPU per step, per process: the Jetstep process (it also runs this benchmark's polling of
    // the REST API, a small share), nats-server and the app.
    const jetstepCpu = (cpu.user + cpu.system) / 1e6;
    const perStep = (seconds: number) => ((seconds * 1000) / (RUNS * STEPS)).toFixed(2);
    console.log(
      `    CPU per step (ms)                       jetstep ${perStep(jetstepCpu)}, nats-server ${perStep(serverCpu)}, app ${perStep(appCpu)}; total ${perStep(jetstepCpu + serverCpu + appCpu)}`,
    );
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

// `npm run bench -- w1` or `-- w4` runs one workload; W4_SLEEPERS sets the parked-run count.
// BENCH_SYNC=interval runs the server with its default sync interval instead of `always`.
const only = process.argv[2];
const syncMode = process.env.BENCH_SYNC ?? "always";
if (syncMode !== "always" && syncMode !== "interval") {
  console.error(`BENCH_SYNC must be "always" or "interval", got ${JSON.stringify(syncMode)}`);
  process.exit(2);
}
const server = await startNatsServer({ syncAlways: syncMode === "always", monitor: true });
try {
  console.log(`server: ${await describeServer(server)}`);
  if (!only || only === "w1") {
    const raw = await rawPublishRate(server.url);
    console.log(`raw JetStream publish (pipelined, ack'd, R1, same server): ${raw.toFixed(0)} msg/s`);
    const free = await w1(server, "our SDK (jetstep)", "./w1-app-jetstep.ts", raw);
    const limited = await w1(
      server,
      "our SDK, concurrency: 50",
      "./w1-app-jetstep.ts",
      raw,
      "bench/w1-limited",
    );
    console.log(
      `W1  cost of flow control: concurrency 50 runs at ${((100 * limited.stepsPerS) / free.stepsPerS).toFixed(0)}% of the unlimited throughput`,
    );
    await w1(server, "the official inngest SDK", "./w1-app.ts", raw);
    const overNats = await w1(
      server,
      "our SDK as a NATS worker",
      "./w1-app-worker.ts",
      raw,
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
      raw,
      "bench/w1",
      "HTTP",
      true,
    );
    console.log(
      `W1  cost of tracing (every span exported): ${((100 * traced.stepsPerS) / free.stepsPerS).toFixed(0)}% of the untraced throughput`,
    );
  }
  if (!only || only === "w4") await w4(server, Number(process.env.W4_SLEEPERS ?? 100_000));
} finally {
  await server.stop();
}
