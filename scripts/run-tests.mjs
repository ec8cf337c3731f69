#!/usr/bin/env node
// The one test command (`npm test`). Node 20's `--test` does not expand globs, so this lists the
// *.test.ts files itself and hands them to node's runner through tsx.
//
//   npm test                      every test file
//   npm test -- sdk gateway       only files whose path contains "sdk" or "gateway"
//   npm test -- --test-name-pattern=replay    extra `--…` args go to node as-is
//
// Before the tests it builds the pinned nats-server and Jaeger when the cache lacks them
// (`jetstep install`; minutes on a fresh machine, a version check afterwards), and bundles the CLI
// the tests start as `jetstep` (dist/test-cli, under a second; see test/support/cli.ts).
//
// Env: TEST_CONCURRENCY (files in parallel; default 3, or 1 on a one-core machine), TEST_TIMEOUT (ms
// per test, default 300000). Files share nothing (each starts its own nats-server on ephemeral ports
// with a temporary store), so they may run side by side. Three at a time on 2 cores: many files
// spend much of their time waiting (timers, processes starting), and two left the cores idle a
// third of the time (453.7 s against 500.0 and 540.3 s for two, on the same commit).
// Ends with a plain `N passed, N failed` line (parsed from a TAP copy of the run) and node's exit code.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { repoFiles } from "./repo-files.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const ROOTS = ["shared", "services", "test", "examples"];

const cliArgs = process.argv.slice(2);
const nodeFlags = cliArgs.filter((a) => a.startsWith("--"));
const filters = cliArgs.filter((a) => !a.startsWith("--"));
// The files that take longest (measured with three at a time, as `npm test` prints them: faults
// 87 s, faults-processes 84 s, the corpus and the cluster 67 s, checkpoint 66 s, …) start first, so
// the lanes end together instead of one running the faults file alone at the end. The rest follow
// in name order.
const SLOW_FIRST = [
  "test/e2e/faults.test.ts",
  "test/e2e/cluster.test.ts",
  // Builds, packs and installs the package, then runs two apps on it: 50-60 s on a loaded machine.
  "test/e2e/package.test.ts",
  "test/e2e/faults-processes.test.ts",
  "test/e2e/checkpoint.test.ts",
  "test/e2e/sleep.test.ts",
  "test/e2e/flow.test.ts",
  "test/e2e/cli-embedded-nats.test.ts",
  "test/e2e/start.test.ts",
  "test/e2e/gateway-corpus.test.ts",
  "test/e2e/graceful-stop.test.ts",
  "test/e2e/crash.test.ts",
];
const rank = (f) => (SLOW_FIRST.includes(f) ? SLOW_FIRST.indexOf(f) : SLOW_FIRST.length);
const files = repoFiles(root, ROOTS, (name) => name.endsWith(".test.ts"))
  .map((path) => relative(root, path).split(sep).join("/"))
  .filter((f) => filters.length === 0 || filters.some((needle) => f.includes(needle)))
  .sort()
  .sort((a, b) => rank(a) - rank(b));

if (files.length === 0) {
  console.error(`run-tests: no *.test.ts files${filters.length ? ` matching ${filters.join(", ")}` : ""}`);
  console.log("0 passed, 0 failed");
  process.exit(1);
}

// Tests run on the pinned nats-server (and the tracing test on the pinned Jaeger): build them
// into the cache when missing. Once built this only checks their versions.
const install = spawnSync(
  process.execPath,
  [join(root, "services/cli/bin/jetstep.mjs"), "install", "nats-server", "jaeger"],
  { cwd: root, stdio: "inherit" },
);
if (install.status !== 0) {
  console.log("0 passed, 0 failed");
  process.exit(install.status ?? 1);
}

// `jetstep` as the tests start it: the CLI bundled as the package ships it (test/support/cli.ts).
// Inside the repository, so that it finds its dependencies in node_modules.
const cliDir = join(root, "dist/test-cli");
const cli = spawnSync(
  process.execPath,
  [join(root, "scripts/build-package.mjs"), "--cli-only", "--out", cliDir],
  { cwd: root, stdio: "inherit" },
);
if (cli.status !== 0) {
  console.log("0 passed, 0 failed");
  process.exit(cli.status ?? 1);
}
process.env.JETSTEP_TEST_CLI = join(cliDir, "cli.js");

// The TypeScript compiled ahead of time (compile-ts.mjs), run through ts-hooks.mjs instead of tsx:
// each test file and each app a test serves is a node process, and tsx cost each about half a
// CPU-second before it ran anything. Files changed since are compiled on demand.
const tsOut = join(root, "dist/test-js");
const compiled = spawnSync(process.execPath, [join(root, "scripts/compile-ts.mjs"), "--out", tsOut], {
  cwd: root,
  stdio: "inherit",
});
if (compiled.status !== 0) {
  console.log("0 passed, 0 failed");
  process.exit(compiled.status ?? 1);
}
process.env.JETSTEP_TS_OUT = tsOut;

const concurrency = positiveInt("TEST_CONCURRENCY", availableParallelism() > 1 ? 3 : 1);
const timeout = positiveInt("TEST_TIMEOUT", 300_000);
const tapDir = mkdtempSync(join(tmpdir(), "jetstep-tests-"));
const tapFile = join(tapDir, "report.tap");
const timesFile = join(tapDir, "file-times.json");

const args = [
  "--import",
  join(root, "scripts/ts-register.mjs"),
  "--test",
  `--test-concurrency=${concurrency}`,
  `--test-timeout=${timeout}`,
  "--test-reporter=spec",
  "--test-reporter-destination=stdout",
  "--test-reporter=tap",
  `--test-reporter-destination=${tapFile}`,
  `--test-reporter=${join(root, "scripts/file-times-reporter.mjs")}`,
  `--test-reporter-destination=${timesFile}`,
  ...nodeFlags,
  ...files,
];
console.log(`run-tests: ${files.length} file(s), concurrency ${concurrency}, timeout ${timeout} ms`);

const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => child.kill(signal));
}
child.on("exit", (code, signal) => {
  const summary = readSummary(tapFile);
  printSlowest(timesFile);
  rmSync(tapDir, { recursive: true, force: true });
  const failed = summary.fail + summary.cancelled;
  if (summary.cancelled > 0) console.log(`(${summary.cancelled} cancelled, counted as failed)`);
  console.log(`${summary.pass} passed, ${failed} failed`);
  if (signal !== null) process.exit(1);
  // A crash before any summary still fails the run.
  process.exit(code ?? 1);
});

function readSummary(path) {
  const counts = { pass: 0, fail: 0, cancelled: 0 };
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return counts;
  }
  // Top-level summary lines are unindented `# pass N`; take the last of each.
  for (const m of text.matchAll(/^# (pass|fail|cancelled) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

/** The slowest files of the run, to keep SLOW_FIRST true. */
function printSlowest(path) {
  let times;
  try {
    times = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return;
  }
  const slowest = Object.entries(times)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 12)
    .map(([file, ms]) => `${(ms / 1000).toFixed(0)} s ${relative(root, file).split(sep).join("/")}`);
  if (slowest.length > 0) console.log(`slowest files: ${slowest.join(", ")}`);
}

function positiveInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`run-tests: ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}
