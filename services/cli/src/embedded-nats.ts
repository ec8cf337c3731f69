/**
 * The embedded nats-server of `jetstep dev`: the pinned build (`NATS_SERVER_BIN`, the cache, then
 * `PATH`; built into the cache when none is found and Go is at hand), refused with one line when
 * older than the minimum. JetStream fsyncs every write before acknowledging it
 * (`sync_interval: always`), store under `<cwd>/.jetstep/nats`, client port chosen by the server
 * (`-p -1`) and read from its ports file.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type FoundBinary,
  findGo,
  installTool,
  requireNatsServer,
  ToolchainError,
  Tools,
} from "@jetstep/toolchain";

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
  const configFile = join(storeDir, "nats.conf");
  writeFileSync(configFile, embeddedConfig(storeDir));
  const child = spawn(bin, ["-c", configFile, "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", portsDir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
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
