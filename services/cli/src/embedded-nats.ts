/**
 * The embedded nats-server of `jetstep dev`: found via NATS_SERVER_BIN, PATH, /usr/sbin; when
 * missing and we are root on Debian, installed with apt; otherwise we exit with one line saying
 * how to install it. JetStream store under `<cwd>/.jetstep/nats`, client port chosen by the
 * server (`-p -1`) and read from its ports file.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { delimiter, join } from "node:path";

export class NatsServerMissingError extends Error {
  override name = "NatsServerMissingError";
}

export function findNatsServer(env: NodeJS.ProcessEnv): string | undefined {
  if (env.NATS_SERVER_BIN) {
    if (existsSync(env.NATS_SERVER_BIN)) return env.NATS_SERVER_BIN;
    throw new NatsServerMissingError(`NATS_SERVER_BIN=${env.NATS_SERVER_BIN} does not exist`);
  }
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir && existsSync(join(dir, "nats-server"))) return join(dir, "nats-server");
  }
  return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : undefined;
}

/** Finds nats-server, installing Debian's package when running as root on Debian. */
export function ensureNatsServer(env: NodeJS.ProcessEnv, log: (msg: string) => void): string {
  const found = findNatsServer(env);
  if (found) return found;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && existsSync("/etc/debian_version")) {
    log("nats-server not found; installing Debian's nats-server package (apt-get install -y nats-server)…");
    execFileSync("apt-get", ["update"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "nats-server"], {
      stdio: "inherit",
      env: { ...env, DEBIAN_FRONTEND: "noninteractive" },
    });
    const installed = findNatsServer(env);
    if (installed) return installed;
  }
  throw new NatsServerMissingError(
    "nats-server not found: install it (Debian/Ubuntu: sudo apt-get install -y nats-server) or set NATS_SERVER_BIN, or pass --nats-url",
  );
}

export interface EmbeddedNats {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startEmbeddedNats(bin: string, storeDir: string): Promise<EmbeddedNats> {
  mkdirSync(storeDir, { recursive: true });
  const portsDir = join(storeDir, "ports");
  rmSync(portsDir, { recursive: true, force: true });
  mkdirSync(portsDir, { recursive: true });
  const child = spawn(
    bin,
    ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", storeDir, "--ports_file_dir", portsDir],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8192);
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`nats-server exited with ${child.exitCode}: ${stderr.trim()}`);
    const file = readdirSync(portsDir).find((f) => f.endsWith(".ports"));
    if (file) {
      const ports = JSON.parse(readFileSync(join(portsDir, file), "utf8")) as { nats?: string[] };
      const url = ports.nats?.[0];
      if (url) {
        const stop = () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          });
        process.once("exit", () => child.kill("SIGKILL"));
        return { url: url.replace(/^nats:\/\/[^:]+:/, "nats://127.0.0.1:"), child, stop };
      }
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not start within 15 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
