import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireNatsServer, ToolchainError } from "@jetstep/toolchain";
import { trackChild, trackTempDir, untrackTempDir } from "./child-registry.ts";
import { keepAlive } from "./keep-alive.ts";
import { waitFor } from "./wait-for.ts";

export interface StartNatsServerOptions {
  /** Enable JetStream (`-js -sd <storeDir>`); default true. */
  jetstream?: boolean;
  /** Use this store dir and keep it on `stop()`; default: a temp dir removed on `stop()`. */
  storeDir?: string;
  /** Extra command-line arguments, appended last (so they win). */
  args?: string[];
  /**
   * nats-server config file contents. Our flags (`-a 127.0.0.1 -p -1 -js -sd ...`) still apply and
   * override the file, so a `port: 4222` in it is harmless.
   */
  configText?: string;
  /** Client port; default -1 (the server picks a free one). 4222 is refused. */
  port?: number;
  /** How long to wait for the server to publish its port; default 10 s. */
  startTimeoutMs?: number;
  /**
   * Fsync every write before acknowledging it (`sync_interval: always`), as `jetstep dev` and the
   * production configs run. Default false: tests check behaviour, not power-loss durability, and
   * run several times faster with the server's default (sync every 2 minutes).
   */
  syncAlways?: boolean;
  /** Serve HTTP monitoring (`/varz`, `/jsz`) on a server-chosen port, see `monitorUrl`. */
  monitor?: boolean;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`; changes only if `restart()` could not get the same port back. */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` of the monitoring endpoint when started with `monitor: true`. */
  readonly monitorUrl: string | undefined;
  readonly storeDir: string;
  /** pid of the current server process. */
  readonly pid: number;
  /** SIGKILL, wait for exit, remove temp dirs (never a caller-supplied `storeDir`). Idempotent. */
  stop(): Promise<void>;
  /**
   * Send `signal` (default SIGKILL). For SIGKILL/SIGTERM/SIGINT/SIGQUIT resolves once the process
   * has exited; for others (SIGHUP = reload, SIGUSR2 = lame duck) once sent. Dirs are kept, so
   * `restart()` afterwards simulates a crash and recovery.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Stop the server gracefully (SIGTERM, SIGKILL after 10 s) if it is still running, then start it
   * again with the same arguments, store dir and port (a fresh port if that one is taken).
   * Resolves with this same handle, updated. Rejects after `stop()`.
   */
  restart(): Promise<NatsServerHandle>;
  /** Everything the server printed (stderr and stdout, all runs), for failure messages. */
  stderr(): string;
}

/** nats-server could not be found or did not start; the message includes its output. */
export class NatsServerStartError extends Error {
  override readonly name = "NatsServerStartError";
  readonly code = "NATS_SERVER_START";
}

const DEFAULT_PORT = 4222;
const EXITING_SIGNALS = new Set<NodeJS.Signals>(["SIGKILL", "SIGTERM", "SIGINT", "SIGQUIT"]);
const MAX_OUTPUT_CHARS = 2_000_000;

/**
 * The nats-server binary, found as `jetstep dev` finds it (`$NATS_SERVER_BIN`, the cache that
 * `jetstep install` fills, `PATH`) and at least the minimum Jetstep needs. Throws
 * `NatsServerStartError` (naming the command that builds the pinned one) otherwise.
 */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  try {
    return requireNatsServer(env).path;
  } catch (e) {
    if (e instanceof ToolchainError) throw new NatsServerStartError(e.message);
    throw e;
  }
}

/**
 * Starts a private nats-server on 127.0.0.1 with a server-chosen port (learned from its ports
 * file) and, by default, JetStream on a temp store dir. Call `stop()` when done (e.g. in
 * `after()`); the process is SIGKILLed anyway when the test process exits.
 */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  if (opts.port === DEFAULT_PORT) {
    throw new NatsServerStartError("refusing port 4222: tests must not touch the machine's server");
  }
  const bin = findNatsServer();
  const workDir = await mkdtemp(join(tmpdir(), "jetstep-nats-"));
  trackTempDir(workDir);
  try {
    const portsDir = join(workDir, "ports");
    await mkdir(portsDir);
    const storeDir = opts.storeDir ?? join(workDir, "store");
    await mkdir(storeDir, { recursive: true });
    const baseArgs: string[] = [];
    if (opts.syncAlways && opts.configText?.includes("jetstream")) {
      throw new NatsServerStartError(
        "syncAlways with a configText that has a jetstream block: set sync_interval there",
      );
    }
    const configText = `${opts.configText ?? ""}${opts.syncAlways ? "\njetstream { sync_interval: always }\n" : ""}`;
    if (configText !== "") {
      const configFile = join(workDir, "nats.conf");
      await writeFile(configFile, configText);
      baseArgs.push("-c", configFile);
    }
    baseArgs.push("-a", "127.0.0.1", "--ports_file_dir", portsDir);
    if (opts.monitor) baseArgs.push("-m", "-1");
    if (opts.jetstream ?? true) baseArgs.push("-js", "-sd", storeDir);
    const server = new NatsServerImpl({
      bin,
      baseArgs,
      extraArgs: opts.args ?? [],
      workDir,
      portsDir,
      storeDir,
      ownsStoreDir: opts.storeDir === undefined,
      startTimeoutMs: opts.startTimeoutMs ?? 10_000,
    });
    await server.launch(opts.port ?? -1);
    return server;
  } catch (err) {
    untrackTempDir(workDir);
    await rm(workDir, { recursive: true, force: true });
    throw err;
  }
}

interface ServerSpec {
  bin: string;
  baseArgs: string[];
  extraArgs: string[];
  workDir: string;
  portsDir: string;
  storeDir: string;
  ownsStoreDir: boolean;
  startTimeoutMs: number;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  hasExited: () => boolean;
}

class NatsServerImpl implements NatsServerHandle {
  readonly storeDir: string;
  readonly #spec: ServerSpec;
  #port = -1;
  #monitorPort: number | undefined;
  #running: Running | undefined;
  #output = "";
  #stopped = false;

  constructor(spec: ServerSpec) {
    this.#spec = spec;
    this.storeDir = spec.storeDir;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  get monitorUrl(): string | undefined {
    return this.#monitorPort === undefined ? undefined : `http://127.0.0.1:${this.#monitorPort}`;
  }

  get pid(): number {
    return this.#running?.child.pid ?? -1;
  }

  stderr(): string {
    return this.#output;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.kill("SIGKILL");
    await rm(this.#spec.workDir, { recursive: true, force: true, maxRetries: 3 });
    untrackTempDir(this.#spec.workDir);
    // A caller-supplied storeDir lives outside workDir and is left alone.
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const running = this.#running;
    if (running === undefined || running.hasExited()) return;
    running.child.kill(signal);
    if (EXITING_SIGNALS.has(signal)) await keepAlive(running.exited);
  }

  async restart(): Promise<NatsServerHandle> {
    if (this.#stopped) throw new NatsServerStartError("restart() after stop()");
    const running = this.#running;
    if (running !== undefined && !running.hasExited()) {
      running.child.kill("SIGTERM");
      const timer = setTimeout(() => running.child.kill("SIGKILL"), 10_000);
      await keepAlive(running.exited);
      clearTimeout(timer);
    }
    const previousPort = this.#port;
    this.#append(`\n--- restart (previous port ${previousPort}) ---\n`);
    try {
      await this.launch(previousPort);
    } catch (err) {
      // Most likely someone took the port meanwhile; a new port beats a failed test.
      this.#append(
        `\n--- restart on port ${previousPort} failed (${(err as Error).message.split("\n")[0]}); retrying on -1 ---\n`,
      );
      await this.launch(-1);
    }
    return this;
  }

  /** Spawns the server on `port` (-1 = any) and waits until it accepts clients. */
  async launch(port: number): Promise<void> {
    const { bin, baseArgs, extraArgs, portsDir, startTimeoutMs } = this.#spec;
    const args = [...baseArgs, "-p", String(port), ...extraArgs];
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    trackChild(child);
    let exitInfo: string | undefined;
    const exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        exitInfo ??= `spawn error: ${err.message}`;
        resolve();
      });
      child.once("exit", (code, signal) => {
        exitInfo ??= `exited with code ${code}, signal ${signal}`;
        resolve();
      });
    });
    child.stdout?.setEncoding("utf8").on("data", (s: string) => this.#append(s));
    child.stderr?.setEncoding("utf8").on("data", (s: string) => this.#append(s));
    // A forgotten stop() must not keep the test process alive forever: the server doesn't hold the
    // event loop open, and the exit handler kills it. Waits on `exited` use keepAlive().
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    this.#running = { child, exited, hasExited: () => exitInfo !== undefined };

    const fail = (why: string): NatsServerStartError =>
      new NatsServerStartError(
        `nats-server ${why}\n  command: ${bin} ${args.join(" ")}\n--- output ---\n${this.#output}`,
      );
    let found: { port: number; monitor: number | undefined } | { exited: string };
    try {
      found = await waitFor(
        async () => {
          if (exitInfo !== undefined) return { exited: exitInfo };
          const p = child.pid === undefined ? undefined : await readPortsFile(portsDir, child.pid);
          return p;
        },
        { timeoutMs: startTimeoutMs, intervalMs: 20, message: "nats-server ports file" },
      );
    } catch (err) {
      child.kill("SIGKILL");
      await keepAlive(exited);
      throw fail(`did not report its port within ${startTimeoutMs} ms (${(err as Error).message})`);
    }
    if ("exited" in found) {
      // Let the output streams drain so the error shows why.
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw fail(found.exited);
    }
    // The ports file is written once the listener is up; an INFO line proves clients are served.
    try {
      await waitFor(() => receivesInfo(found.port, 1_000), {
        timeoutMs: startTimeoutMs,
        message: `INFO from 127.0.0.1:${found.port}`,
      });
    } catch (err) {
      child.kill("SIGKILL");
      await keepAlive(exited);
      throw fail(`listens on ${found.port} but sent no INFO (${(err as Error).message})`);
    }
    this.#port = found.port;
    this.#monitorPort = found.monitor;
  }

  #append(s: string): void {
    this.#output += s;
    if (this.#output.length > MAX_OUTPUT_CHARS) this.#output = this.#output.slice(-MAX_OUTPUT_CHARS);
  }
}

/**
 * The client (and monitoring) port from `<exe>_<pid>.ports` (JSON `{"nats":["nats://127.0.0.1:PORT"],
 * "monitoring":["http://…"]}`), or undefined while the file is missing or half-written. Files of
 * earlier pids are deleted.
 */
async function readPortsFile(
  dir: string,
  pid: number,
): Promise<{ port: number; monitor: number | undefined } | undefined> {
  const suffix = `_${pid}.ports`;
  for (const name of await readdir(dir)) {
    if (!name.endsWith(".ports")) continue;
    if (!name.endsWith(suffix)) {
      await unlink(join(dir, name)).catch(() => {});
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(join(dir, name), "utf8"));
    } catch {
      return undefined;
    }
    const portOf = (urls: unknown): number | undefined => {
      const first = Array.isArray(urls) ? urls[0] : undefined;
      if (typeof first !== "string") return undefined;
      const port = Number(new URL(first).port);
      return Number.isInteger(port) && port > 0 ? port : undefined;
    };
    const port = portOf((parsed as { nats?: unknown }).nats);
    if (port === undefined) return undefined;
    return { port, monitor: portOf((parsed as { monitoring?: unknown }).monitoring) };
  }
  return undefined;
}

/** Connects to 127.0.0.1:`port` and reports whether the server greets with `INFO {...}`. */
function receivesInfo(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.setEncoding("utf8").on("data", (s: string) => {
      buf += s;
      if (buf.includes("\r\n")) done(buf.startsWith("INFO "));
    });
  });
}
