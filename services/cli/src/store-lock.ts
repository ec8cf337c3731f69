/**
 * The lock `jetstep dev` keeps in its nats-server store (`<store>/jetstep-dev.lock`): which
 * `jetstep dev` owns the store (pid and command line), which nats-server serves it and on what port.
 * A SIGKILLed `jetstep dev` cannot stop its nats-server, so the next start on the store reads the
 * lock: it stops such an orphan and takes the store over, and refuses while the owner still lives,
 * because two nats-servers on one JetStream store corrupt it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "@jetstep/telemetry";
import { z } from "zod";

const LOCK_FILE = "jetstep-dev.lock";

/** How long an orphaned nats-server gets to shut down after SIGTERM before it is SIGKILLed. */
const ORPHAN_GRACE_MS = 5_000;
/** How long a SIGKILLed orphan gets to disappear before the start gives up. */
const ORPHAN_KILL_WAIT_MS = 5_000;

const LockRecordSchema = z.object({
  ownerPid: z.number().int().positive(),
  /** The owner's command line when it took the lock: a reused pid runs another command. */
  ownerCommand: z.string(),
  natsPid: z.number().int().positive().optional(),
  port: z.number().int().positive().optional(),
  startedAt: z.string(),
});
type LockRecord = z.infer<typeof LockRecordSchema>;

/** Another `jetstep dev` is running on the store: starting a second nats-server would corrupt it. */
export class StoreInUseError extends Error {
  override readonly name = "StoreInUseError";
  readonly code = "STORE_IN_USE";
  readonly ownerPid: number;
  readonly storeDir: string;
  constructor(ownerPid: number, storeDir: string) {
    super(
      `jetstep dev (pid ${ownerPid}) is already running on the store ${storeDir}: stop it first, two nats-servers on one store would corrupt it`,
    );
    this.ownerPid = ownerPid;
    this.storeDir = storeDir;
  }
}

/** The store, held by this process until `release()`. */
export interface StoreLock {
  /** Records the nats-server serving the store now (after every start and restart). */
  record(natsPid: number, port?: number): void;
  /**
   * Removes the lock unless another process has taken the store over since. Synchronous, so it can
   * run on `exit`.
   */
  release(): void;
}

/**
 * Takes the store at `storeDir` for this process. A lock left by a `jetstep dev` that is gone is
 * replaced; the nats-server it recorded, when still running on `configFile`, is stopped first
 * (SIGTERM, SIGKILL after 5 s) and the stop is logged. Throws StoreInUseError while the owner lives.
 */
export async function claimStore(storeDir: string, configFile: string, log: Logger): Promise<StoreLock> {
  const file = join(storeDir, LOCK_FILE);
  const mine: LockRecord = {
    ownerPid: process.pid,
    ownerCommand: commandLineOf(process.pid) ?? "",
    startedAt: new Date().toISOString(),
  };
  for (;;) {
    try {
      // Exclusive create: of two starts racing for a free store, one wins and the other sees its lock.
      writeFileSync(file, JSON.stringify(mine), { flag: "wx" });
      return new StoreLockImpl(file, mine);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    await clearAbandoned(file, storeDir, configFile, log);
  }
}

/**
 * The command line of process `pid` (arguments joined by spaces), or undefined when there is no
 * such process or it has exited and awaits reaping (a zombie has no command line).
 */
function commandLineOf(pid: number): string | undefined {
  if (process.platform === "linux") {
    try {
      const raw = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return raw === "" ? undefined : raw.replace(/\0$/, "").split("\0").join(" ");
    } catch {
      return undefined;
    }
  }
  try {
    // -ww: the whole command line, however wide; ps exits non-zero when there is no such process.
    const out = execFileSync("ps", ["-ww", "-o", "args=", "-p", String(pid)], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
    return out === "" ? undefined : out;
  } catch {
    return undefined;
  }
}

/** Stops what a lock left by a dead owner still runs and removes the lock; throws when the owner lives. */
async function clearAbandoned(
  file: string,
  storeDir: string,
  configFile: string,
  log: Logger,
): Promise<void> {
  const lock = readLock(file);
  if (lock) {
    const ownerLives = lock.ownerPid !== process.pid && commandLineOf(lock.ownerPid) === lock.ownerCommand;
    if (ownerLives) throw new StoreInUseError(lock.ownerPid, storeDir);
    if (lock.natsPid !== undefined && servesStore(lock.natsPid, configFile)) {
      await stopOrphan(lock.natsPid, configFile);
      log.warn(
        { natsPid: lock.natsPid, ownerPid: lock.ownerPid, port: lock.port, storeDir },
        `stopped nats-server ${lock.natsPid}, left running on this store by jetstep dev ${lock.ownerPid}, which is gone`,
      );
    }
  }
  rmSync(file, { force: true });
}

/** The lock's record, or undefined when it is gone or unreadable (then it is only replaced). */
function readLock(file: string): LockRecord | undefined {
  try {
    const parsed = LockRecordSchema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a nats-server on this store: after pid reuse it would be some other program. */
function servesStore(pid: number, configFile: string): boolean {
  return commandLineOf(pid)?.includes(configFile) ?? false;
}

async function stopOrphan(pid: number, configFile: string): Promise<void> {
  signal(pid, "SIGTERM");
  if (await exitsWithin(pid, configFile, ORPHAN_GRACE_MS)) return;
  signal(pid, "SIGKILL");
  if (await exitsWithin(pid, configFile, ORPHAN_KILL_WAIT_MS)) return;
  throw new Error(`nats-server ${pid} still runs on ${configFile} after SIGKILL`);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    // ESRCH: it exited since it was looked at, which is what we want.
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

async function exitsWithin(pid: number, configFile: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (servesStore(pid, configFile)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

class StoreLockImpl implements StoreLock {
  readonly #file: string;
  #record: LockRecord;

  constructor(file: string, record: LockRecord) {
    this.#file = file;
    this.#record = record;
  }

  record(natsPid: number, port?: number): void {
    this.#record = { ...this.#record, natsPid, ...(port !== undefined ? { port } : {}) };
    // Write then rename, so a start reading the lock never sees half a record.
    const tmp = `${this.#file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.#record));
    renameSync(tmp, this.#file);
  }

  release(): void {
    if (readLock(this.#file)?.ownerPid === process.pid) rmSync(this.#file, { force: true });
  }
}
