#!/usr/bin/env node
// `npm run dev`: builds the pinned nats-server when missing, then starts `jetstep dev` (embedded
// nats-server, gateway on :8288) and the example app on :3000, synced with -u. Ctrl-C or SIGTERM
// stops both (and the nats-server `jetstep dev` started).
//
//   npm run dev -- --port 8300 --host 0.0.0.0   the gateway elsewhere: the app follows it
//   PORT=3100 npm run dev                        the example app elsewhere: -u follows it
// Every other argument goes to `jetstep dev` as it is (see `jetstep dev --help`).
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "services/cli/bin/jetstep.mjs");
const argv = process.argv.slice(2);
const env = process.env;

// Where the gateway listens, as `jetstep dev` reads it (flags over the environment), so the app
// sends its events there; a wildcard bind address is reached on loopback.
const { values } = parseArgs({
  args: argv,
  strict: false,
  options: { port: { type: "string", short: "p" }, host: { type: "string" } },
});
const gatewayPort = String(values.port ?? env.JETSTEP_PORT ?? env.INNGEST_PORT ?? 8288);
const bindHost = String(values.host ?? env.JETSTEP_HOST ?? "127.0.0.1");
const host = bindHost === "0.0.0.0" || bindHost === "::" ? "127.0.0.1" : bindHost;
const gatewayUrl = `http://${host.includes(":") ? `[${host}]` : host}:${gatewayPort}`;
const appPort = Number(env.PORT ?? 3000);

// The example app's port, checked before anything starts (the gateway's is checked by jetstep dev).
await new Promise((resolve) => {
  const probe = createServer();
  probe.once("error", (e) => {
    console.error(
      `npm run dev: port ${appPort} of the example app is ${e.code === "EADDRINUSE" ? "already in use" : `unusable (${e.code})`}: choose another with PORT=<port> npm run dev`,
    );
    process.exit(1);
  });
  probe.listen({ port: appPort, exclusive: true }, () => probe.close(resolve));
});

// The pinned nats-server, built into the cache the first time (needs Go; about a minute).
if (!argv.includes("--nats-url") && !env.NATS_URL && !env.NATS_SERVER_BIN) {
  const install = spawnSync(process.execPath, [cli, "install", "nats-server"], {
    cwd: root,
    stdio: "inherit",
  });
  if (install.status !== 0) process.exit(install.status ?? 1);
}

const children = [];
let stopping = false;
const stopAll = (signal) => {
  stopping = true;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
};
const start = (args, childEnv = {}) => {
  // In the current directory (npm run dev: the repo), where jetstep dev keeps its store (.jetstep).
  const child = spawn(process.execPath, args, { stdio: "inherit", env: { ...env, ...childEnv } });
  children.push(child);
  child.on("exit", (code, signal) => {
    // One ended: the other has nothing to talk to. The first to end sets the exit code.
    if (!stopping) process.exitCode = code ?? (signal ? 0 : 1);
    stopAll("SIGTERM");
  });
  return child;
};
start([cli, "dev", "-u", `http://localhost:${appPort}/api/inngest`, "--retry-interval", "2", ...argv]);
// tsx by absolute URL: `--import tsx` would be looked up from the current directory.
start(["--import", import.meta.resolve("tsx"), join(root, "examples/hello/src/main.ts")], {
  PORT: String(appPort),
  JETSTEP_BASE_URL: gatewayUrl,
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => stopAll(sig));
// `npm run dev` runs this under `sh -c`, which does not pass on the SIGTERM npm forwards to it: when
// it dies and leaves this process to another parent, stop as if signalled.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent && !stopping) stopAll("SIGTERM");
}, 250).unref();
