/**
 * The embedded nats-server of `jetstep dev`: the pinned build (`NATS_SERVER_BIN`, the cache, then
 * `PATH`; built into the cache when none is found and Go is at hand), refused with one line when
 * older than the minimum. JetStream fsyncs every write before acknowledging it
 * (`sync_interval: always`), store under `<cwd>/.jetstep/nats`, client port chosen by the server
 * (`-p -1`) and read from its ports file. `jetstep dev` owns it: the store is locked
 * (`store-lock.ts`), the server restarted when it dies and stopped when `jetstep dev` stops.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@jetstep/telemetry";
import {
  type FoundBinary,
  findGo,
  installTool,
  requireNatsServer,
  ToolchainError,
  Tools,
} from "@jetstep/toolchain";
import { claimStore, type StoreLock } from "./store-lock.ts";

/**
 * A nats-server new enough for Jetstep. When there is none at all and Go is installed, the pinned
 * version is built into the cache first (progress lines through `log`). Throws ToolchainError
 * (one line) otherwise.
 */
export async function ensureNatsServer(
  env: NodeJS.ProcessEnv,
  log: (msg: string) => void,
): Promise<FoundBinary> {
  try {
    return requireNatsServer(env);
  } catch (e) {
    if (!(e instanceof ToolchainError) || e.code !== "NOT_FOUND" || env.NATS_SERVER_BIN || !findGo(env)) {
      throw e;
    }
  }
  await installTool(Tools.natsServer, { env, log });
  return requireNatsServer(env);
}

/** The server's settings: JetStream on, every write synced to disk before it is acknowledged. */
export function embeddedConfig(storeDir: string): string {
  return [
    "# Written by `jetstep dev` at every start; edits are overwritten.",
    "jetstream {",
    `  store_dir: ${JSON.stringify(storeDir)}`,
    "  sync_interval: always",
    "}",
    "",
  ].join("\n");
}

/** Restart backoff of a nats-server that exits under `jetstep dev`. */
export const RestartBackoff = {
  initialMs: 500,
  maxMs: 10_000,
  /** A server that stayed up this long crashed afresh: its next restart waits `initialMs` again. */
  stableMs: 60_000,
} as const;

/** Delay before the next restart, given the last delay (none yet: undefined) and how long the server ran. */
export function nextRestartDelay(lastDelayMs: number | undefined, upMs: number): number {
  if (lastDelayMs === undefined || upMs >= RestartBackoff.stableMs) return RestartBackoff.initialMs;
  return Math.min(lastDelayMs * 2, RestartBackoff.maxMs);
}

const START_TIMEOUT_MS = 15_000;
/** How long nats-server gets to shut down after SIGTERM before it is SIGKILLed. */
const STOP_GRACE_MS = 10_000;
const STDERR_TAIL_LINES = 10;

export interface EmbeddedNats {
  /** Client URL; it stays the same when the server is restarted (same port). */
  readonly url: string;
  /** Pid of the nats-server running now (a restart changes it). */
  readonly pid: number | undefined;
  /** Ends supervision, stops the server (SIGTERM, SIGKILL after 10 s) and releases the store. */
  stop(): Promise<void>;
}

/**
 * Takes the store (see `claimStore`: an orphan left by a killed `jetstep dev` is stopped; a live
 * owner makes this throw StoreInUseError), starts nats-server on it and supervises it: when it exits
 * before `stop()`, it is started again on the same port with backoff (`RestartBackoff`), the exit
 * logged with its code, signal and last stderr lines. Throws when the first start fails or takes
 * over 15 s.
 */
export async function startEmbeddedNats(bin: string, storeDir: string, log: Logger): Promise<EmbeddedNats> {
  mkdirSync(storeDir, { recursive: true });
  const configFile = join(storeDir, "nats.conf");
  const lock = await claimStore(storeDir, configFile, log);
  const nats = new EmbeddedNatsImpl(bin, storeDir, configFile, lock, log);
  try {
    writeFileSync(configFile, embeddedConfig(storeDir));
    await nats.start();
  } catch (e) {
    lock.release();
    throw e;
  }
  return nats;
}

class EmbeddedNatsImpl implements EmbeddedNats {
  url = "";
  readonly #bin: string;
  readonly #storeDir: string;
  readonly #configFile: string;
  readonly #lock: StoreLock;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  /** -1 lets the server choose on the first start; restarts reuse that port, keeping `url`. */
  #port = -1;
  #supervising = false;
  #lastDelayMs: number | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #spawnedAt = 0;

  constructor(bin: string, storeDir: string, configFile: string, lock: StoreLock, log: Logger) {
    this.#bin = bin;
    this.#storeDir = storeDir;
    this.#configFile = configFile;
    this.#lock = lock;
    this.#log = log;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    process.once("exit", this.#killNow);
    try {
      await this.#launch();
    } catch (e) {
      process.off("exit", this.#killNow);
      throw e;
    }
    this.#supervising = true;
  }

  async stop(): Promise<void> {
    this.#supervising = false;
    clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child && isRunning(child)) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    }
    process.off("exit", this.#killNow);
    this.#lock.release();
  }

  // A `jetstep dev` ending without stop() (an uncaught error) must not leave its server behind.
  readonly #killNow = (): void => {
    if (this.#child && isRunning(this.#child)) this.#child.kill("SIGKILL");
    this.#lock.release();
  };

  /** Spawns nats-server and resolves once its ports file names the client URL. */
  async #launch(): Promise<void> {
    const portsDir = join(this.#storeDir, "ports");
    rmSync(portsDir, { recursive: true, force: true });
    mkdirSync(portsDir, { recursive: true });
    const args = ["-c", this.#configFile, "-a", "127.0.0.1", "-p", String(this.#port)];
    const child = spawn(this.#bin, [...args, "--ports_file_dir", portsDir], {
      // Its own process group: a terminal's Ctrl-C reaches only `jetstep dev`, which stops the
      // services (they flush to NATS) before it stops nats-server.
      detached: true,
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.#child = child;
    this.#spawnedAt = Date.now();
    if (child.pid !== undefined) this.#lock.record(child.pid);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-8192);
    });
    let ended: string | undefined;
    const onEnd = (code: number | null, signal: NodeJS.Signals | null, err?: Error): void => {
      if (ended !== undefined) return;
      ended = err ? err.message : `code ${code}, signal ${signal}`;
      this.#exited(child, { code, signal, ...(err ? { err } : {}), stderr: tail(stderr) });
    };
    // "close" rather than "exit": by then its last stderr lines have been read.
    child.once("close", (code, signal) => onEnd(code, signal));
    // A failed spawn (binary gone) emits "error", and maybe no "close".
    child.once("error", (err) => onEnd(null, null, err));

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (ended !== undefined) throw new Error(`nats-server exited (${ended}): ${stderr.trim()}`);
      const url = readPortsFile(portsDir);
      if (url) {
        this.url = url;
        this.#port = Number(new URL(url).port);
        if (child.pid !== undefined) this.#lock.record(child.pid, this.#port);
        return;
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`nats-server did not start within ${START_TIMEOUT_MS / 1000} s: ${stderr.trim()}`);
      }
      await sleep(50);
    }
  }

  #exited(child: ChildProcess, why: ExitInfo): void {
    if (child !== this.#child || !this.#supervising) return;
    this.#lastDelayMs = nextRestartDelay(this.#lastDelayMs, Date.now() - this.#spawnedAt);
    this.#log.error(
      { natsPid: child.pid, ...why, restartInMs: this.#lastDelayMs },
      `embedded nats-server exited; restarting it on port ${this.#port}`,
    );
    this.#restartTimer = setTimeout(() => void this.#restart(), this.#lastDelayMs);
  }

  async #restart(): Promise<void> {
    try {
      await this.#launch();
      this.#log.info({ natsUrl: this.url, natsPid: this.pid }, "embedded nats-server restarted");
    } catch {
      // The failed server's exit was logged, and the next attempt scheduled, by #exited.
    }
  }
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  err?: Error;
  /** Its last stderr lines: why it died, when nats-server knew. */
  stderr: string[];
}

function isRunning(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** The client URL from nats-server's ports file, once written; with 127.0.0.1 for a wildcard host. */
function readPortsFile(portsDir: string): string | undefined {
  const file = readdirSync(portsDir).find((f) => f.endsWith(".ports"));
  if (!file) return undefined;
  let ports: { nats?: string[] };
  try {
    ports = JSON.parse(readFileSync(join(portsDir, file), "utf8")) as { nats?: string[] };
  } catch {
    return undefined; // caught while nats-server writes it: read it again on the next poll
  }
  return ports.nats?.[0]?.replace(/^nats:\/\/[^:]+:/, "nats://127.0.0.1:");
}

function tail(text: string): string[] {
  return text.trimEnd().split("\n").slice(-STDERR_TAIL_LINES);
}
