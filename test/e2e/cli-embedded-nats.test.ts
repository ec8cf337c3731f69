/**
 * `jetstep dev` owns its embedded nats-server: the server of a SIGKILLed `jetstep dev` is stopped by
 * the next start on the store, a second `jetstep dev` on a live one's store refuses, and a server
 * that dies under a live `jetstep dev` is restarted and runs work again.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, spawnCli, spawnTs, type TsProcess, waitFor } from "../support/index.ts";
import { sendEvents, waitForApp, waitForEventRuns } from "./harness.ts";

const APP = fileURLToPath(new URL("../fixtures/crash-app.ts", import.meta.url));

const storeOf = (cwd: string) => join(cwd, ".jetstep", "nats");

/** Pids of the live (not zombie) processes whose command line runs the store's nats.conf. */
function serversOn(cwd: string): number[] {
  const config = join(storeOf(cwd), "nats.conf");
  return execFileSync("ps", ["-eo", "pid=,stat=,args="], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.trim().match(/^(\d+)\s+(\S+)\s+(.*)$/))
    .filter(
      (m): m is RegExpMatchArray => m !== null && !m[2]?.startsWith("Z") && m[3]?.includes(config) === true,
    )
    .map((m) => Number(m[1]));
}

/** The natsPid of the last "embedded nats-server started" (or "restarted") line, once there is one. */
async function natsPidOf(dev: TsProcess, event: "started" | "restarted" = "started"): Promise<number> {
  const re = new RegExp(`embedded nats-server ${event}`);
  await dev.waitForLine(re, 30_000);
  const line = dev.lines().findLast((l) => re.test(l)) ?? "";
  const pid = Number(line.match(/"natsPid":(\d+)/)?.[1]);
  assert.ok(pid > 0, line);
  return pid;
}

describe("jetstep dev owns its nats-server", () => {
  const cwds: string[] = [];
  const procs: TsProcess[] = [];

  const tempCwd = () => {
    const d = mkdtempSync(join(tmpdir(), "jetstep-dev-nats-"));
    cwds.push(d);
    return d;
  };
  const dev = (cwd: string, port: number, args: string[] = []) => {
    const p = spawnCli(["dev", "--port", String(port), "--json", ...args], {
      cwd,
      env: { NATS_URL: undefined, JETSTEP_NATS_URL: undefined },
    });
    procs.push(p);
    return p;
  };

  after(async () => {
    for (const p of procs) await p.kill("SIGKILL");
    // A failed test may leave the server of a SIGKILLed `jetstep dev` behind; nothing else stops it.
    for (const cwd of cwds) {
      for (const pid of serversOn(cwd)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // exited since ps listed it
        }
      }
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it("stops the nats-server a SIGKILLed jetstep dev left on the store before starting its own", async () => {
    const cwd = tempCwd();
    const first = dev(cwd, await freePort());
    await first.waitForLine(/dev server ready/, 30_000);
    const orphan = await natsPidOf(first);
    await first.kill("SIGKILL");
    assert.deepEqual(serversOn(cwd), [orphan], "the killed jetstep dev left its nats-server running");

    const port = await freePort();
    const second = dev(cwd, port);
    await second.waitForLine(/dev server ready/, 30_000);
    const stopped = second.lines().find((l) => l.includes("left running on this store"));
    assert.ok(stopped, second.output());
    assert.match(stopped, new RegExp(`"natsPid":${orphan}\\b`));
    assert.match(stopped, new RegExp(`"ownerPid":${first.pid}\\b`));
    const own = await natsPidOf(second);
    assert.deepEqual(serversOn(cwd), [own], "only the new nats-server holds the store");

    const res = await fetch(`http://127.0.0.1:${port}/e/key`, {
      method: "POST",
      body: JSON.stringify({ name: "cli/after-orphan" }),
    });
    assert.equal(res.status, 200);
    assert.equal((await second.kill("SIGTERM")).code, 0, second.output());
    assert.deepEqual(serversOn(cwd), [], "a clean exit stops nats-server");
    assert.ok(!existsSync(join(storeOf(cwd), "jetstep-dev.lock")), "a clean exit removes the lock");
  });

  it("refuses to start on the store of a jetstep dev that is running, naming its pid and the store", async () => {
    const cwd = tempCwd();
    const port = await freePort();
    const first = dev(cwd, port);
    await first.waitForLine(/dev server ready/, 30_000);
    const server = await natsPidOf(first);

    const second = dev(cwd, await freePort());
    const exit = await second.exited;
    assert.equal(exit.code, 1, second.output());
    assert.equal(
      second.output().trim(),
      `jetstep dev (pid ${first.pid}) is already running on the store ${storeOf(cwd)}: stop it first, two nats-servers on one store would corrupt it`,
    );
    assert.deepEqual(serversOn(cwd), [server], "the running one's nats-server is untouched");
    assert.equal((await fetch(`http://127.0.0.1:${port}/v1/events`)).status, 200);

    // Ctrl-C: the terminal's SIGINT reaches jetstep dev (its nats-server runs in a process group of
    // its own), which stops its services, then the server, and logs no warning doing so.
    assert.equal((await first.kill("SIGINT")).code, 0, first.output());
    assert.deepEqual(serversOn(cwd), [], "Ctrl-C stops the nats-server too");
    const warnings = first.lines().filter((l) => /"level":(40|50)/.test(l));
    assert.deepEqual(warnings, [], "a normal stop logs no warning");
  });

  it("restarts a nats-server that dies under it, on the same URL, and runs events sent afterwards", async () => {
    const cwd = tempCwd();
    const port = await freePort();
    const appPort = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const jetstep = dev(cwd, port, [
      "-u",
      `http://127.0.0.1:${appPort}/api/inngest`,
      "--retry-interval",
      "0.1",
    ]);
    await jetstep.waitForLine(/dev server ready/, 30_000);
    const app = spawnTs(APP, [], {
      env: { PORT: String(appPort), INNGEST_DEV: "1", INNGEST_BASE_URL: url, STEP_MS: "10" },
    });
    procs.push(app);
    await app.waitForLine(/listening/, 30_000);
    await waitForApp(url, "crash-app", { syncUrl: `http://127.0.0.1:${appPort}/api/inngest` });
    const killed = await natsPidOf(jetstep);
    const natsUrl = jetstep
      .lines()
      .find((l) => l.includes("embedded nats-server started"))
      ?.match(/"natsUrl":"([^"]+)"/)?.[1];

    process.kill(killed, "SIGKILL");
    const exited = await jetstep.waitForLine(/embedded nats-server exited; restarting/, 10_000);
    assert.match(exited.input ?? "", /"signal":"SIGKILL"/);
    const restarted = await natsPidOf(jetstep, "restarted");
    assert.notEqual(restarted, killed);
    assert.deepEqual(serversOn(cwd), [restarted]);
    const line = jetstep.lines().find((l) => l.includes("embedded nats-server restarted")) ?? "";
    assert.ok(natsUrl && line.includes(`"natsUrl":"${natsUrl}"`), `same URL as before: ${line}`);

    // The services reconnect on their own (unlimited reconnect attempts); wait for the gateway's.
    // Short requests: one sent before it has reconnected would wait out the 10 s JetStream timeout.
    const reads = async () => (await fetch(`${url}/v1/events`, { signal: AbortSignal.timeout(1_000) })).ok;
    await waitFor(reads, {
      timeoutMs: 30_000,
      message: "the gateway to read events again",
    });
    const [eventId] = await sendEvents(url, { name: "crash/go", data: {} });
    assert.ok(eventId);
    const runs = await waitForEventRuns(url, eventId, 2, 60_000);
    assert.deepEqual(
      runs.map((r) => r.status),
      ["Completed", "Completed"],
    );
    assert.equal((await jetstep.kill("SIGTERM")).code, 0, jetstep.output());
    assert.deepEqual(serversOn(cwd), []);
  });
});
