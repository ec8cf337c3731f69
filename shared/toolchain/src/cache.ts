import { homedir } from "node:os";
import { join } from "node:path";
import type { ToolSpec } from "./tools.ts";

/**
 * Where built programs are kept: `$JETSTEP_CACHE_DIR`, else `$XDG_CACHE_HOME/jetstep`, else
 * `~/.cache/jetstep`. Each version has its own folder, so a new pin never reuses an old build.
 */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.JETSTEP_CACHE_DIR) return env.JETSTEP_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "jetstep");
}

/** The cached binary of a tool's pinned version (it may not exist yet). */
export function cachedBinary(tool: ToolSpec, env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheRoot(env), tool.name, tool.version, tool.name);
}

/** The command that builds a tool into the cache, as the messages tell it. */
export function installCommand(tool: ToolSpec): string {
  return `npx jetstep install ${tool.name}`;
}
