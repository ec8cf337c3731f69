/**
 * `npm run bench`: prints figures, asserts nothing (machines here are noisy; compare ratios
 * within one run).
 *
 * W1: 200 runs × 10 sequential step.run steps through the real HTTP path (gateway → EVENTS →
 * matcher → INBOX → executor → app over HTTP → RUNS), against the raw ack'd JetStream publish
 * rate of the same server.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startRuntime } from "@jetstep/cli";
import { connectNats, Publisher } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { freePort, spawnTs, startNatsServer, waitFor } from "../test/support/index.ts";

const RUNS = Number(process.env.W1_RUNS ?? 200);
const STEPS = 10;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function appCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function rawPublishRate(url: string): Promise<number> {
  const nats = await connectNats({ servers: url });
  await nats.jsm.streams.add({ name: "BENCH", subjects: ["bench.>"], storage: "file" as never });
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

async function w1(): Promise<void> {
  const server = await startNatsServer();
  try {
    const raw = await rawPublishRate(server.url);
    const appPort = await freePort();
    const runtime = await startRuntime({
      natsUrl: server.url,
      host: "127.0.0.1",
      port: 0,
      appUrls: [`http://127.0.0.1:${appPort}/api/inngest`],
      syncIntervalMs: 500,
      log: silentLogger(),
    });
    const app = spawnTs(fileURLToPath(new URL("./w1-app.ts", import.meta.url)), [], {
      env: { PORT: String(appPort), INNGEST_DEV: "1", INNGEST_BASE_URL: runtime.gatewayUrl },
    });
    try {
      await app.waitForLine(/listening/, 30_000);
      await waitFor(
        async () =>
          ((await (await fetch(`${runtime.gatewayUrl}/v1/functions`)).json()) as { data: unknown[] }).data
            .length > 0,
        {
          timeoutMs: 30_000,
        },
      );
      const events = Array.from({ length: RUNS }, (_, i) => ({ name: "bench/w1", data: { i } }));
      const start = performance.now();
      const res = await fetch(`${runtime.gatewayUrl}/e/bench`, {
        method: "POST",
        body: JSON.stringify(events),
      });
      const { ids } = (await res.json()) as { ids: string[] };
      type Run = { status: string; run_started_at: string; ended_at: string | null };
      // Poll only runs not yet seen completed, so polling stays a small part of the load.
      const done = new Map<string, Run>();
      let lastDoneAt = start;
      await waitFor(
        async () => {
          const pending = ids.filter((id) => !done.has(id));
          await Promise.all(
            pending.map(async (id) => {
              const r = await fetch(`${runtime.gatewayUrl}/v1/events/${id}/runs`);
              const run = r.status === 200 ? ((await r.json()) as { data: Run[] }).data[0] : undefined;
              if (run?.status === "Completed") {
                done.set(id, run);
                lastDoneAt = Math.max(
                  lastDoneAt,
                  Date.parse(run.ended_at as string) - Date.now() + performance.now(),
                );
              }
            }),
          );
          return done.size === ids.length;
        },
        { timeoutMs: 600_000, intervalMs: 1000 },
      );
      const runs = [...done.values()];
      const cpu = process.cpuUsage();
      const appCpu = appCpuSeconds(app.pid);
      const wallS = (lastDoneAt - start) / 1000;
      const latencies = runs
        .map((r) => Date.parse(r.ended_at as string) - Date.parse(r.run_started_at))
        .sort((a, b) => a - b);
      const stepsPerS = (RUNS * STEPS) / wallS;
      console.log(`W1  ${RUNS} runs × ${STEPS} steps over HTTP (official inngest SDK app)`);
      console.log(`    wall time            ${wallS.toFixed(2)} s`);
      console.log(`    steps/s              ${stepsPerS.toFixed(0)}`);
      console.log(`    run latency p50      ${pct(latencies, 50)} ms`);
      console.log(`    run latency p99      ${pct(latencies, 99)} ms`);
      console.log(`    raw JetStream publish ${raw.toFixed(0)} msg/s (pipelined, ack'd, same server)`);
      console.log(`    ratio publish/steps  ${(raw / stepsPerS).toFixed(1)}×`);
      console.log(
        `    CPU: jetstep+bench process ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, app process ${appCpu.toFixed(1)} s`,
      );
    } finally {
      await app.kill("SIGKILL");
      await runtime.stop();
    }
  } finally {
    await server.stop();
  }
}

await w1();
