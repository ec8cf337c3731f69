/**
 * The system the fault suite attacks: a nats-server (temp store, `sync_interval: always`), the fault
 * app (test/fixtures/fault-app.ts) and `jetstep start` as five processes — gateway, matcher, cron
 * and two executors — so that each can be killed, paused and restarted on its own, as in a
 * production deployment.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Buckets, Keys } from "@jetstep/core";
import { connectNats, DEFAULT_PARTITIONS, type Nats, scanSubjects } from "@jetstep/jetstream";
import {
  freePort,
  type NatsServerHandle,
  spawnCli,
  spawnTs,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";

const ROLES = ["app", "gateway", "matcher", "cron", "executorA", "executorB"] as const;
/** A process of the stack (nats-server aside, which has its own handle). */
export type Role = (typeof ROLES)[number];

export const APP_ID = "fault-app";
export const EVENT_KEY = "fault-event-key";
const SIGNING_KEY = "signkey-faults-5e1f0c2a9d4b7e6f3a8c1d0b2e4f6a8c9d7b5e3f1a2c4e6b8d0f2a4c6e8b0d2f4a";
/** The REST API credential of the stack's gateway (`jetstep start` takes its signing key as one). */
export const API_AUTH = { authorization: `Bearer ${SIGNING_KEY}` };

const APP = fileURLToPath(new URL("../fixtures/fault-app.ts", import.meta.url));

export interface StackOptions {
  /** Where the app appends its step executions (`<runId> <step> <ms>` lines). */
  execLog: string;
  /** Lease TTL of partitions and of the cron leader (`--lease-ttl`). */
  leaseTtlMs: number;
  /** How long each step body works. */
  stepMs: number;
  /** Fixed retry backoff of the executors, in seconds (`--retry-interval`); unset: production's. */
  retryIntervalS?: number;
}

export interface FaultStack {
  readonly gatewayUrl: string;
  readonly nats: NatsServerHandle;
  /** The suite's own connection (reads leases and run logs); reconnects across server restarts. */
  readonly client: Nats;
  /** SIGKILL the role's process and wait for its exit. */
  kill(role: Role): Promise<void>;
  /** Start the role's process again, with the arguments it had (returns once spawned, not ready). */
  restart(role: Role): void;
  /** Send SIGSTOP / SIGCONT to the role's process. */
  pause(role: Role): void;
  resume(role: Role): void;
  /** Owner of each held lease key (`partition.<n>`, `cron`), read from the LEASES bucket. */
  leaseHolders(): Promise<Map<string, string>>;
  /** Processes that exited without being told to, with the end of their output. */
  unexpectedExits(): string[];
  /** Writes every process's output (all incarnations) and nats-server's to files in `dir`. */
  saveLogs(dir: string): Promise<void>;
  /** SIGKILL everything and remove the server's store. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the stack and resolves once the app is registered, the executors hold half the
 * partitions each and a cron leader is elected. Rejects (after stopping what it started) when that
 * takes over `timeoutMs` or a process exits during start-up, with the end of every process's output.
 */
export async function startFaultStack(opts: StackOptions, timeoutMs = 90_000): Promise<FaultStack> {
  const nats = await startNatsServer({ syncAlways: true });
  const stack = new FaultStackImpl(nats, opts, await freePort(), await freePort());
  try {
    await stack.launch(timeoutMs);
    return stack;
  } catch (e) {
    await stack.stop();
    throw new Error(`the fault stack did not start: ${(e as Error).message}\n${stack.outputTails()}`, {
      cause: e,
    });
  }
}

class FaultStackImpl implements FaultStack {
  readonly gatewayUrl: string;
  readonly nats: NatsServerHandle;
  readonly #opts: StackOptions;
  readonly #appUrl: string;
  readonly #appPort: number;
  readonly #gatewayPort: number;
  readonly #procs = new Map<Role, TsProcess[]>();
  /** Processes we killed (or stopped the stack under): their exit is no finding. */
  readonly #expectedExits = new WeakSet<TsProcess>();
  readonly #unexpected: string[] = [];
  #client: Nats | undefined;
  #stopped = false;

  constructor(nats: NatsServerHandle, opts: StackOptions, appPort: number, gatewayPort: number) {
    this.nats = nats;
    this.#opts = opts;
    this.#appPort = appPort;
    this.#gatewayPort = gatewayPort;
    this.#appUrl = `http://127.0.0.1:${appPort}/api/inngest`;
    this.gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  }

  get client(): Nats {
    if (!this.#client) throw new Error("the fault stack is not started");
    return this.#client;
  }

  async launch(timeoutMs: number): Promise<void> {
    this.#client = await connectNats({ servers: this.nats.url, name: "fault-suite" });
    // The app first: the gateway syncs its URL once at start (then only every 30 s).
    this.#spawn("app");
    await this.#current("app").waitForLine(/fault app listening/, timeoutMs);
    for (const role of ROLES) if (role !== "app") this.#spawn(role);
    const ready = await waitFor(
      async () => {
        if (this.#unexpected.length > 0) return { failed: this.#unexpected.join("\n") };
        return (await this.#appRegistered()) && (await this.#workersReady());
      },
      { timeoutMs, intervalMs: 250, message: "fault stack ready (app synced, executors and cron leased)" },
    );
    if (ready !== true) throw new Error(`a process exited during start-up: ${ready.failed}`);
  }

  async kill(role: Role): Promise<void> {
    const proc = this.#current(role);
    this.#expectedExits.add(proc);
    await proc.kill("SIGKILL");
  }

  restart(role: Role): void {
    this.#spawn(role);
  }

  pause(role: Role): void {
    process.kill(this.#current(role).pid, "SIGSTOP");
  }

  resume(role: Role): void {
    process.kill(this.#current(role).pid, "SIGCONT");
  }

  async leaseHolders(): Promise<Map<string, string>> {
    const prefix = `$KV.${Buckets.leases}.`;
    const holders = new Map<string, string>();
    for await (const m of scanSubjects(this.client.jsm, `KV_${Buckets.leases}`, `${prefix}>`)) {
      // Deleted, purged or expired keys leave markers behind; member and meta keys are no leases.
      if (m.header.get("KV-Operation") || m.data.length === 0) continue;
      const key = m.subject.slice(prefix.length);
      if (!key.startsWith("partition.") && key !== Keys.cronLeader) continue;
      holders.set(key, (m.json() as { owner: string }).owner);
    }
    return holders;
  }

  unexpectedExits(): string[] {
    return [...this.#unexpected];
  }

  /** The last lines of each process's output, for a start-up failure. */
  outputTails(): string {
    return [...this.#procs]
      .map(([role, procs]) => `--- ${role} ---\n${procs.at(-1)?.lines().slice(-20).join("\n")}`)
      .join("\n");
  }

  async saveLogs(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    for (const [role, procs] of this.#procs) {
      for (const [i, proc] of procs.entries()) {
        await writeFile(join(dir, `${role}${i === 0 ? "" : `.${i + 1}`}.log`), `${proc.output()}\n`);
      }
    }
    await writeFile(join(dir, "nats-server.log"), this.nats.stderr());
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const all = [...this.#procs.values()].flat();
    for (const proc of all) this.#expectedExits.add(proc);
    await Promise.all(all.map((proc) => proc.kill("SIGKILL")));
    await this.#client?.close();
    await this.nats.stop();
  }

  #current(role: Role): TsProcess {
    const proc = this.#procs.get(role)?.at(-1);
    if (!proc) throw new Error(`no ${role} process`);
    return proc;
  }

  #spawn(role: Role): void {
    const proc =
      role === "app"
        ? spawnTs(APP, [], {
            env: {
              PORT: String(this.#appPort),
              JETSTEP_BASE_URL: this.gatewayUrl,
              JETSTEP_SIGNING_KEY: SIGNING_KEY,
              JETSTEP_SERVE_ORIGIN: new URL(this.#appUrl).origin,
              EXEC_LOG: this.#opts.execLog,
              STEP_MS: String(this.#opts.stepMs),
            },
          })
        : spawnCli(this.#startArgs(role));
    const incarnations = this.#procs.get(role) ?? [];
    incarnations.push(proc);
    this.#procs.set(role, incarnations);
    void proc.exited.then((exit) => {
      if (this.#expectedExits.has(proc)) return;
      const tail = proc.lines().slice(-30).join("\n");
      this.#unexpected.push(`${role} (pid ${proc.pid}) exited: ${JSON.stringify(exit)}\n${tail}`);
    });
  }

  #startArgs(role: Exclude<Role, "app">): string[] {
    const common = [
      "start",
      "--nats-url",
      this.nats.url,
      "--replicas",
      "1",
      "--event-key",
      EVENT_KEY,
      "--signing-key",
      SIGNING_KEY,
      "--lease-ttl",
      String(this.#opts.leaseTtlMs),
      // Every service calls or syncs only allowed app URLs (the executors call the app).
      "--allow-app-url",
      this.#appUrl,
      "--log-level",
      "warn",
      "--json",
    ];
    switch (role) {
      case "gateway":
        return [
          ...common,
          "--services",
          "gateway",
          "--host",
          "127.0.0.1",
          "--port",
          String(this.#gatewayPort),
          "-u",
          this.#appUrl,
        ];
      case "matcher":
      case "cron":
        return [...common, "--services", role];
      case "executorA":
      case "executorB":
        return [
          ...common,
          "--services",
          "executor",
          ...(this.#opts.retryIntervalS !== undefined
            ? ["--retry-interval", String(this.#opts.retryIntervalS)]
            : []),
        ];
      default: {
        const _exhaustive: never = role;
        throw new Error(`unknown role ${_exhaustive}`);
      }
    }
  }

  /** Whether the gateway lists the app; asks it to sync the app now when not. */
  async #appRegistered(): Promise<boolean> {
    const res = await fetch(`${this.gatewayUrl}/v1/apps`, {
      headers: API_AUTH,
      signal: AbortSignal.timeout(5_000),
    });
    const apps = ((await res.json()) as { data: { appId: string }[] }).data;
    if (apps.some((a) => a.appId === APP_ID)) return true;
    await fetch(`${this.gatewayUrl}/v1/apps/sync`, {
      method: "POST",
      headers: { "content-type": "application/json", ...API_AUTH },
      body: JSON.stringify({ url: this.#appUrl }),
      signal: AbortSignal.timeout(5_000),
    }).then((r) => r.body?.cancel());
    return false;
  }

  /**
   * A cron leader is elected and the two executors hold half the partitions each. Not before the
   * split settles: a partition handed over under load re-runs the calls in flight on it, which a
   * healthy stack would then show as re-executions.
   */
  async #workersReady(): Promise<boolean> {
    const holders = await this.leaseHolders();
    const owned = new Map<string, number>();
    for (const [key, owner] of holders)
      if (key.startsWith("partition.")) owned.set(owner, (owned.get(owner) ?? 0) + 1);
    return (
      holders.has(Keys.cronLeader) &&
      owned.size === 2 &&
      [...owned.values()].every((n) => n === DEFAULT_PARTITIONS / 2)
    );
  }
}
