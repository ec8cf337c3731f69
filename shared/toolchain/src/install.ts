/**
 * Builds a pinned tool from its Go module into the cache, once. The build happens in a temporary
 * folder next to the cache entry and is moved into place only after the binary reports the pinned
 * version, so a failed or interrupted build leaves nothing that a later lookup would pick up.
 */
import { execFileSync, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { compareVersions, parseVersion } from "@jetstep/core";
import { cachedBinary, cacheRoot } from "./cache.ts";
import { ToolchainError } from "./errors.ts";
import { binaryVersion, isExecutable } from "./find.ts";
import type { ToolSpec } from "./tools.ts";

export interface InstallOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines (one at the start, one every `progressEveryMs` while building, one at the end). */
  log?: (line: string) => void;
  progressEveryMs?: number;
  /** The go binary to build with; null: act as if there were none. Default: `findGo(env)`. */
  go?: string | null;
}

export interface Installed {
  path: string;
  /** False when the cache already had it (nothing was built). */
  built: boolean;
}

/** The `go` to build with: on PATH, else the usual /usr/local/go; undefined when there is none. */
export function findGo(env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(":")) {
    if (dir && isExecutable(join(dir, "go"))) return join(dir, "go");
  }
  return isExecutable("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined;
}

export async function installTool(tool: ToolSpec, opts: InstallOptions = {}): Promise<Installed> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  const target = cachedBinary(tool, env);
  if (isExecutable(target) && binaryVersion(target, tool) === tool.version) {
    return { path: target, built: false };
  }
  const go = opts.go === undefined ? findGo(env) : (opts.go ?? undefined);
  const needs = `building ${tool.name} ${tool.version} needs Go ${tool.minGo} or newer`;
  if (!go) {
    throw new ToolchainError("NO_GO", `Go toolchain not found (no go on PATH or in /usr/local/go): ${needs}`);
  }
  const goVersion = execFileSync(go, ["env", "GOVERSION"], { encoding: "utf8", env }).trim();
  const have = parseVersion(goVersion);
  const want = parseVersion(tool.minGo);
  const switches = (env.GOTOOLCHAIN ?? "").startsWith("auto") || /^go\d/.test(env.GOTOOLCHAIN ?? "");
  if (have && want && compareVersions(have, want) < 0 && !switches) {
    throw new ToolchainError(
      "NO_GO",
      `${go} is ${goVersion}: ${needs} (install a newer Go, or set GOTOOLCHAIN=auto to let go fetch one)`,
    );
  }

  await mkdir(cacheRoot(env), { recursive: true });
  const work = await mkdtemp(join(cacheRoot(env), `.build-${tool.name}-`));
  const logFile = join(cacheRoot(env), `${tool.name}-${tool.version}.build.log`);
  const started = Date.now();
  log(
    `building ${tool.name} ${tool.version} from ${tool.module} with ${goVersion} (${tool.coldBuild} the first time; cached in ${dirname(target)})…`,
  );
  const ticker = setInterval(
    () => log(`… still building ${tool.name} (${Math.round((Date.now() - started) / 1000)} s)`),
    opts.progressEveryMs ?? 30_000,
  );
  try {
    const out = join(work, tool.name);
    await goBuild(go, tool, work, out, env, logFile);
    const version = binaryVersion(out, tool);
    if (version !== tool.version) {
      throw new ToolchainError(
        "WRONG_BINARY",
        `the ${tool.name} just built reports version ${version ?? "(none)"}, not ${tool.version}; nothing was installed`,
      );
    }
    await chmod(out, 0o755);
    await mkdir(dirname(target), { recursive: true });
    await rename(out, target);
    log(`${tool.name} ${tool.version} built in ${Math.round((Date.now() - started) / 1000)} s: ${target}`);
    return { path: target, built: true };
  } finally {
    clearInterval(ticker);
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs the go commands for one tool, output to `logFile`; BUILD_FAILED names the log's last line. */
async function goBuild(
  go: string,
  tool: ToolSpec,
  work: string,
  out: string,
  env: NodeJS.ProcessEnv,
  logFile: string,
): Promise<void> {
  const logStream = createWriteStream(logFile);
  let tail = "";
  const run = (args: string[], cwd: string, extraEnv: Record<string, string> = {}) =>
    new Promise<void>((resolve, reject) => {
      logStream.write(`$ go ${args.join(" ")}\n`);
      const child = spawn(go, args, { cwd, env: { ...env, ...extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
      const onData = (d: Buffer) => {
        logStream.write(d);
        tail = (tail + d.toString()).slice(-4096);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.once("error", reject);
      child.once("exit", (code) => {
        if (code === 0) return resolve();
        const last = tail.trim().split("\n").pop() ?? "";
        reject(
          new ToolchainError(
            "BUILD_FAILED",
            `building ${tool.name} ${tool.version} failed (go ${args[0]} exited with ${code}): ${last.trim()} — full log: ${logFile}`,
          ),
        );
      });
    });
  const ldflags = tool.ldflags ? ["-ldflags", tool.ldflags] : [];
  try {
    if (tool.viaToolModule) {
      const mod = join(work, "module");
      await mkdir(mod);
      await run(["mod", "init", "jetstep-build"], mod);
      await run(["get", "-tool", `${tool.pkg}@v${tool.version}`], mod);
      await run(["build", "-trimpath", ...ldflags, "-o", out, tool.pkg], mod);
    } else {
      const bin = join(work, "bin");
      await run(["install", "-trimpath", ...ldflags, `${tool.pkg}@v${tool.version}`], work, { GOBIN: bin });
      await rename(join(bin, tool.name), out);
    }
  } finally {
    await new Promise((r) => logStream.end(r));
  }
}
