/**
 * Finding nats-server the way `jetstep dev`, the tests and the benchmark do: `NATS_SERVER_BIN`,
 * then the cache (`jetstep install`), then `PATH`; a binary older than the minimum is refused with
 * one line naming the version found, the one needed and the command that installs it.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { delimiter, join } from "node:path";
import { MIN_NATS_SERVER_VERSION, parseVersion, versionAtLeast } from "@jetstep/core";
import { cachedBinary, installCommand } from "./cache.ts";
import { ToolchainError } from "./errors.ts";
import { type ToolSpec, Tools } from "./tools.ts";

export type BinarySource = "NATS_SERVER_BIN" | "cache" | "PATH";

export interface FoundBinary {
  path: string;
  /** As the binary reports it, e.g. "2.15.2". */
  version: string;
  source: BinarySource;
}

const versions = new Map<string, string | undefined>();

/** The version a binary prints (`nats-server --version`, `jaeger version`), cached per file. */
export function binaryVersion(path: string, tool: ToolSpec): string | undefined {
  let key: string;
  try {
    key = `${path}@${statSync(path).mtimeMs}`;
  } catch {
    return undefined;
  }
  if (versions.has(key)) return versions.get(key);
  let out = "";
  try {
    out = execFileSync(path, [...tool.versionArgs], { encoding: "utf8", timeout: 10_000, stdio: "pipe" });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    out = `${err.stdout ?? ""}${err.stderr ?? ""}`;
  }
  const v = parseVersion(out);
  const version = v ? v.join(".") : undefined;
  versions.set(key, version);
  return version;
}

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * The first nats-server in `NATS_SERVER_BIN`, the cache, `PATH`, with its version, or undefined
 * when there is none. Throws NOT_FOUND when `NATS_SERVER_BIN` is set to something that is not an
 * executable (it was asked for by name: falling back would hide the mistake).
 */
export function locateNatsServer(env: NodeJS.ProcessEnv = process.env): FoundBinary | undefined {
  const tool = Tools.natsServer;
  const fromEnv = env.NATS_SERVER_BIN;
  let found: { path: string; source: BinarySource } | undefined;
  if (fromEnv) {
    if (!isExecutable(fromEnv)) {
      throw new ToolchainError(
        "NOT_FOUND",
        `NATS_SERVER_BIN=${fromEnv} does not exist or is not executable; unset it to use the cached nats-server ${tool.version} (${installCommand(tool)} builds it)`,
      );
    }
    found = { path: fromEnv, source: "NATS_SERVER_BIN" };
  } else {
    const cached = cachedBinary(tool, env);
    if (isExecutable(cached)) found = { path: cached, source: "cache" };
    else {
      const path = onPath(tool.name, env);
      if (path) found = { path, source: "PATH" };
    }
  }
  if (!found) return undefined;
  return { ...found, version: binaryVersion(found.path, tool) ?? "unknown" };
}

/**
 * A nats-server at least `MIN_NATS_SERVER_VERSION`, or a ToolchainError: NOT_FOUND (none
 * anywhere) or TOO_OLD, each one line that says what to run.
 */
export function requireNatsServer(env: NodeJS.ProcessEnv = process.env): FoundBinary {
  const tool = Tools.natsServer;
  const found = locateNatsServer(env);
  if (!found) {
    throw new ToolchainError(
      "NOT_FOUND",
      `nats-server not found (NATS_SERVER_BIN unset, nothing in ${cachedBinary(tool, env)}, none on PATH): build nats-server ${tool.version} with: ${installCommand(tool)}`,
    );
  }
  if (!versionAtLeast(found.version, MIN_NATS_SERVER_VERSION)) {
    throw new ToolchainError(
      "TOO_OLD",
      `nats-server ${found.version} (${found.path}, from ${found.source}) is older than ${MIN_NATS_SERVER_VERSION}, which Jetstep needs: build nats-server ${tool.version} with: ${installCommand(tool)}`,
    );
  }
  return found;
}

/** The cached Jaeger of the pinned version, or a NOT_FOUND ToolchainError saying how to build it. */
export function requireJaeger(env: NodeJS.ProcessEnv = process.env): string {
  const tool = Tools.jaeger;
  const path = cachedBinary(tool, env);
  if (!isExecutable(path)) {
    throw new ToolchainError(
      "NOT_FOUND",
      `jaeger ${tool.version} not found in ${path}: build it with: ${installCommand(tool)}`,
    );
  }
  return path;
}
