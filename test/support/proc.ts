import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { basename, join } from "node:path";
import { createInterface } from "node:readline";
import { trackChild } from "./child-registry.ts";

export interface SpawnTsOptions {
  /** Merged over `process.env`. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface ProcExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TsProcess {
  readonly pid: number;
  /** Resolves once the child has exited (never rejects). */
  readonly exited: Promise<ProcExit>;
  /** stdout and stderr lines so far, interleaved in arrival order (the last 20k are kept). */
  lines(): readonly string[];
  /** All output so far joined with newlines, for assertion messages. */
  output(): string;
  /**
   * Resolves with the first line (already printed or yet to come) matching `re`. Rejects with the
   * captured output when `timeoutMs` passes or the child exits without printing a match.
   */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGTERM) and resolves when the child has exited. */
  kill(signal?: NodeJS.Signals): Promise<ProcExit>;
}

const MAX_LINES = 20_000;
// Absolute URL, so `--import` works whatever the child's cwd is. Under `npm test` it runs the
// TypeScript compiled ahead of time; otherwise it loads tsx (scripts/ts-register.mjs).
const TS_LOADER = new URL("../../scripts/ts-register.mjs", import.meta.url).href;

/**
 * Runs `node --import tsx <scriptPath> ...args` (see TS_LOADER) with stdout/stderr captured line by
 * line.
 * The child is SIGKILLed if this process exits first.
 */
export function spawnTs(
  scriptPath: string,
  args: readonly string[] = [],
  opts: SpawnTsOptions = {},
): TsProcess {
  return spawnProcess(process.execPath, ["--import", TS_LOADER, scriptPath, ...args], opts);
}

/**
 * Runs `command ...args` (no tsx: e.g. an installed package's binary, or `node app.js`) with its
 * output captured as `spawnTs` does, and SIGKILLed if this process exits first.
 */
export function spawnProcess(
  command: string,
  args: readonly string[] = [],
  opts: SpawnTsOptions = {},
): TsProcess {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  trackChild(child);
  return new TsProcessImpl(child, logFile(command, args, child.pid));
}

/**
 * With `JETSTEP_TEST_LOG_DIR` set, every child's output is also written to a file there (each
 * line prefixed with the test process's clock), so a test that failed under load can be looked
 * into afterwards: the captured lines die with the test process.
 */
function logFile(command: string, args: readonly string[], pid: number | undefined): WriteStream | undefined {
  const dir = process.env.JETSTEP_TEST_LOG_DIR;
  if (!dir || pid === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  const script = args.find((a) => /\.(m?[jt]s)$/.test(a));
  const name = `${basename(process.argv[1] ?? "test")}-${basename(script ?? command)}-${pid}.log`;
  const out = createWriteStream(join(dir, name.replace(/[^\w.-]/g, "_")));
  out.write(`# ${command} ${args.join(" ")}\n`);
  return out;
}

type LineListener = (line: string) => void;

class TsProcessImpl implements TsProcess {
  readonly pid: number;
  readonly exited: Promise<ProcExit>;
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #listeners = new Set<LineListener>();
  #exit: ProcExit | undefined;

  readonly #log: WriteStream | undefined;

  constructor(child: ChildProcess, log?: WriteStream) {
    this.#child = child;
    this.#log = log;
    this.pid = child.pid ?? -1;
    this.exited = new Promise<ProcExit>((resolve) => {
      child.once("error", (err) => {
        this.#push(`[spawn error] ${err.message}`);
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
      // "close" (not "exit") so every buffered output line has been read first.
      child.once("close", (code, signal) => {
        this.#exit ??= { code, signal };
        this.#log?.end(`# exited: code ${code}, signal ${signal}\n`);
        resolve(this.#exit);
      });
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (line) =>
        this.#push(line),
      );
    }
  }

  lines(): readonly string[] {
    return this.#lines;
  }

  output(): string {
    return this.#lines.join("\n");
  }

  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    for (const line of this.#lines) {
      const m = line.match(re);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const fail = (why: string): void => {
        cleanup();
        reject(new Error(`waitForLine ${re} (pid ${this.pid}): ${why}\n--- output ---\n${this.output()}`));
      };
      const onLine: LineListener = (line) => {
        const m = line.match(re);
        if (!m) return;
        cleanup();
        resolve(m);
      };
      const timer = setTimeout(() => fail(`no match within ${timeoutMs} ms`), timeoutMs);
      let live = true;
      const cleanup = (): void => {
        live = false;
        clearTimeout(timer);
        this.#listeners.delete(onLine);
      };
      this.#listeners.add(onLine);
      this.exited.then(
        (e) => {
          if (live) fail(`process exited (code ${e.code}, signal ${e.signal}) without a match`);
        },
        () => {},
      );
    });
  }

  kill(signal: NodeJS.Signals = "SIGTERM"): Promise<ProcExit> {
    if (this.#exit === undefined && this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill(signal);
    }
    return this.exited;
  }

  #push(line: string): void {
    this.#log?.write(`${new Date().toISOString()} ${line}\n`);
    this.#lines.push(line);
    if (this.#lines.length > MAX_LINES) this.#lines.splice(0, this.#lines.length - MAX_LINES);
    for (const l of this.#listeners) l(line);
  }
}
