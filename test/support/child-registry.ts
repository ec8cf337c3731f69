import type { ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";

// Children and temp dirs still alive in this process. Tests that crash or forget `stop()` must not
// leave nats-servers or services running after the test file's process ends.
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let installed = false;

/** Kill `child` with SIGKILL when this process exits or is terminated by SIGINT/SIGTERM/SIGHUP. */
export function trackChild(child: ChildProcess): void {
  install();
  children.add(child);
  child.once("exit", () => children.delete(child));
}

/** Remove `dir` (recursively) when this process exits, unless `untrackTempDir` was called first. */
export function trackTempDir(dir: string): void {
  install();
  tempDirs.add(dir);
}

export function untrackTempDir(dir: string): void {
  tempDirs.delete(dir);
}

function cleanupSync(): void {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // best effort: a SIGKILLed server may still be writing
    }
  }
  tempDirs.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.once("exit", cleanupSync);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      cleanupSync();
      // Re-raise with the default action only if nobody else handles the signal; otherwise the
      // other handler decides whether this process ends.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}
