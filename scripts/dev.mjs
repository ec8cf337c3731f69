#!/usr/bin/env node
// `npm run dev`: builds the pinned nats-server when missing, then starts `jetstep dev` (embedded
// nats-server, gateway on :8288) and the example app on :3000, synced with -u. Ctrl-C stops both.
import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "services/cli/bin/jetstep.mjs");

// The pinned nats-server, built into the cache the first time (needs Go; about a minute).
if (!process.argv.includes("--nats-url") && !process.env.NATS_URL && !process.env.NATS_SERVER_BIN) {
  const install = spawnSync(process.execPath, [cli, "install", "nats-server"], {
    cwd: root,
    stdio: "inherit",
  });
  if (install.status !== 0) process.exit(install.status ?? 1);
}
const children = [];
const start = (args, env = {}) => {
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, ...env },
  });
  children.push(child);
  child.on("exit", (code) => {
    for (const c of children) if (c !== child && c.exitCode === null) c.kill("SIGTERM");
    process.exitCode = code ?? 1;
  });
  return child;
};
start([
  cli,
  "dev",
  "-u",
  "http://localhost:3000/api/inngest",
  "--retry-interval",
  "2",
  ...process.argv.slice(2),
]);
start(["--import", "tsx", join(root, "examples/hello/src/main.ts")], {
  JETSTEP_BASE_URL: "http://localhost:8288",
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    for (const c of children) c.kill(sig);
  });
}
