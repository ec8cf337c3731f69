/**
 * W4: durable timers. (1) 1,000 runs `step → sleep 2s → step`: total time and timer lateness
 * (when the sleep ended vs when it was due) p50/p99. (2) 100,000 runs parked in a 1 h sleep:
 * RSS of the Jetstep process and of nats-server, then the time a freshly started process takes to
 * take over every partition and load all timers after the first one is SIGKILLed.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Streams } from "@jetstep/core";
import { connectNats } from "@jetstep/jetstream";
import { spawnJetstep } from "../test/e2e/harness.ts";
import { freePort, type NatsServerHandle, spawnTs, type TsProcess, waitFor } from "../test/support/index.ts";

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function send(url: string, events: unknown[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < events.length; i += 5000) {
    const res = await fetch(`${url}/e/bench`, {
      method: "POST",
      body: JSON.stringify(events.slice(i, i + 5000)),
    });
    ids.push(...((await res.json()) as { ids: string[] }).ids);
  }
  return ids;
}

export async function w4(server: NatsServerHandle, sleepers: number): Promise<void> {
  const appPort = await freePort();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ["-u", `http://127.0.0.1:${appPort}/api/inngest`, "--lease-ttl", "3s", "--log-level", "debug"];
  let jetstep: TsProcess = await spawnJetstep(server.url, port, args);
  const app = spawnTs(fileURLToPath(new URL("./w4-app.ts", import.meta.url)), [], {
    env: { PORT: String(appPort), JETSTEP_BASE_URL: url },
  });
  try {
    await app.waitForLine(/listening/, 30_000);
    await waitFor(
      async () =>
        ((await (await fetch(`${url}/v1/apps`)).json()) as { data: { appId: string }[] }).data.some(
          (a) => a.appId === "bench-w4",
        ),
      {
        timeoutMs: 30_000,
      },
    );

    // (1) 1,000 sleeping runs through the whole path.
    const start = Date.now();
    const ids = await send(
      url,
      Array.from({ length: 1000 }, (_, i) => ({ name: "bench/w4", data: { i } })),
    );
    type Step = { name: string; started_at: string; ended_at: string | null };
    type Run = { status: string; ended_at: string | null; steps: Step[] };
    const done = new Map<string, Run>();
    await waitFor(
      async () => {
        for (const id of ids.filter((x) => !done.has(x))) {
          const r = await fetch(`${url}/v1/events/${id}/runs`);
          const run = r.status === 200 ? ((await r.json()) as { data: Run[] }).data[0] : undefined;
          if (run?.status === "Completed") done.set(id, run);
        }
        return done.size === ids.length;
      },
      { timeoutMs: 600_000, intervalMs: 1000 },
    );
    const runs = [...done.values()];
    const wall = (Math.max(...runs.map((r) => Date.parse(r.ended_at as string))) - start) / 1000;
    const lateness = runs
      .map((r) => r.steps.find((s) => s.name === "nap") as Step)
      .map((s) => Date.parse(s.ended_at as string) - (Date.parse(s.started_at) + 2000))
      .sort((a, b) => a - b);
    console.log("W4  1,000 runs: step → sleep 2s → step (our SDK app over HTTP)");
    console.log(`    total time                 ${wall.toFixed(2)} s`);
    console.log(
      `    timer lateness p50 / p99   ${pct(lateness, 50)} / ${pct(lateness, 99)} ms (max ${lateness.at(-1)})`,
    );

    // (2) many parked runs.
    const armStart = Date.now();
    await send(
      url,
      Array.from({ length: sleepers }, (_, i) => ({ name: "bench/sleeper", data: { i } })),
    );
    const nats = await connectNats({ servers: server.url });
    await waitFor(async () => (await nats.jsm.streams.info(Streams.timers)).state.messages >= sleepers, {
      timeoutMs: 1_800_000,
      intervalMs: 2000,
    });
    await nats.close();
    console.log(
      `W4  ${sleepers.toLocaleString("en")} runs parked in a 1 h sleep (armed in ${((Date.now() - armStart) / 1000).toFixed(0)} s)`,
    );
    console.log(`    RSS jetstep process        ${rssMiB(jetstep.pid).toFixed(0)} MiB`);
    console.log(`    RSS nats-server            ${rssMiB(server.pid).toFixed(0)} MiB`);
    await jetstep.kill("SIGKILL");
    const restartAt = Date.now();
    const port2 = await freePort();
    jetstep = await spawnJetstep(server.url, port2, args);
    await waitFor(() => loadedTimers(jetstep) >= sleepers, { timeoutMs: 600_000, intervalMs: 100 });
    console.log(
      `    takeover after SIGKILL     ${((Date.now() - restartAt) / 1000).toFixed(1)} s until all ${sleepers.toLocaleString("en")} timers were loaded (lease TTL 3 s included)`,
    );
    console.log(`    RSS new jetstep process    ${rssMiB(jetstep.pid).toFixed(0)} MiB`);
  } finally {
    await app.kill("SIGKILL");
    await jetstep.kill("SIGKILL");
  }
}

/** Timers loaded by partition takeovers, from the "partition acquired" debug lines. */
function loadedTimers(proc: TsProcess): number {
  let n = 0;
  for (const l of proc.lines()) {
    const m = /"timers":(\d+).*"msg":"partition acquired"/.exec(l);
    if (m) n += Number(m[1]);
  }
  return n;
}
