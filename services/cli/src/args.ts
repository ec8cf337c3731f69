/**
 * `jetstep dev` settings, layered: config file (jetstep.yaml / inngest.yaml / inngest.json) <
 * environment (`JETSTEP_*`, then `INNGEST_*`) < flags. Errors name the flag, variable or file line.
 */
import { parseArgs } from "node:util";
import { parseDuration } from "@jetstep/core";
import { ConfigFileError, type FileSettings, loadConfigFile } from "./config-file.ts";

export interface DevArgs {
  command: "dev";
  natsUrl?: string;
  host: string;
  port: number;
  appUrls: string[];
  retryIntervalMs?: number;
  leaseTtlMs?: number;
  eventKeys: string[];
  /** Browser origins that may send events (CORS on `POST /e/:key`). */
  corsOrigins: string[];
  logLevel: string;
  pretty: boolean;
  configFile?: string;
  /** Auto-discovery of local apps (without `-u`, unless `--no-discovery`), every `intervalMs`. */
  discovery?: { intervalMs: number };
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const USAGE = `usage: jetstep dev [options]

A local dev server: an embedded nats-server (unless --nats-url), every service, the UI and the API.

  -u, --url <url>           app URL to sync (repeatable), e.g. http://localhost:3000/api/inngest
  -p, --port <port>         gateway and UI port (default 8288)
      --host <host>         bind address (default 127.0.0.1)
      --nats-url <url>      use this NATS server instead of an embedded one
      --retry-interval <s>  fixed retry backoff in seconds (local work)
      --lease-ttl <d>       how long a partition lease outlives a stopped holder, e.g. 3s (default 10s)
      --no-discovery        without -u, do not look for apps on common local ports and paths
      --poll-interval <s>   seconds between discovery probes (default 5)
      --event-key <key>     accept only these event keys (repeatable; default: any)
      --cors-origin <o>     a browser origin whose pages may send events, e.g. http://localhost:3000
                            (repeatable; other sites' browser requests are refused)
      --config <file>       settings file (default: jetstep.yaml, inngest.yaml or inngest.json here)
      --log-level <level>   trace|debug|info|warn|error (default info)
      --json                JSON logs even on a TTY

Environment (overridden by flags, overriding the file): JETSTEP_URLS / INNGEST_URLS (comma-separated),
JETSTEP_PORT / INNGEST_PORT, JETSTEP_HOST, JETSTEP_RETRY_INTERVAL, JETSTEP_EVENT_KEY / INNGEST_EVENT_KEY,
NATS_URL / JETSTEP_NATS_URL, JETSTEP_CORS_ORIGINS (comma-separated), JETSTEP_LOG_LEVEL.`;

const envOf = (env: NodeJS.ProcessEnv, name: string): [string, string] | undefined => {
  for (const prefix of ["JETSTEP_", "INNGEST_"]) {
    const v = env[prefix + name];
    if (v !== undefined && v !== "") return [prefix + name, v];
  }
  return undefined;
};

function portOf(source: string, raw: string | number): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`${source}: ${raw} is not a port number`);
  return port;
}

/** Bounds of `--lease-ttl`: a lease is renewed every third of it, and held back a fifth early. */
const LEASE_TTL_MIN_MS = 1000;
const LEASE_TTL_MAX_MS = 5 * 60_000;

/**
 * `--cors-origin` (repeatable) plus JETSTEP_CORS_ORIGINS (comma-separated), of `jetstep dev` and
 * `jetstep start`: browser origins whose pages may send events. Each must be an origin exactly.
 */
export function corsOriginsOf(
  flags: string[] | undefined,
  env: NodeJS.ProcessEnv,
  error: new (message: string) => Error,
): string[] {
  const fromEnv = (env.JETSTEP_CORS_ORIGINS ?? "")
    .split(",")
    .map((o) => o.trim())
    .filter(Boolean);
  const origins = [...(flags ?? []), ...fromEnv];
  for (const o of origins) {
    let origin = "";
    try {
      origin = new URL(o).origin;
    } catch {
      // refused below
    }
    if (origin !== o)
      throw new error(
        `--cors-origin: ${JSON.stringify(o)} is not an origin (scheme://host[:port], no path), e.g. https://shop.example.com`,
      );
  }
  return origins;
}

/** `--lease-ttl` of `jetstep dev` and `jetstep start`: a duration of 1 s to 5 min, or absent. */
export function leaseTtlOf(
  raw: string | undefined,
  error: new (message: string) => Error,
): number | undefined {
  if (raw === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(raw);
  } catch (e) {
    throw new error(`--lease-ttl: ${(e as Error).message}`);
  }
  if (ms < LEASE_TTL_MIN_MS || ms > LEASE_TTL_MAX_MS) throw new error(`--lease-ttl: ${raw} is outside 1s–5m`);
  return ms;
}

function secondsOf(
  source: string,
  raw: string | number,
  error: new (message: string) => Error = UsageError,
): number {
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 0) throw new error(`${source}: ${raw} is not a number of seconds`);
  return Math.round(s * 1000);
}

/** The flags of `jetstep dev` as given; node's `parseArgs` refuses unknown ones. */
function readDevFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string", short: "u", multiple: true },
      port: { type: "string", short: "p" },
      host: { type: "string" },
      "nats-url": { type: "string" },
      "retry-interval": { type: "string" },
      "event-key": { type: "string", multiple: true },
      "cors-origin": { type: "string", multiple: true },
      "lease-ttl": { type: "string" },
      "no-discovery": { type: "boolean" },
      "poll-interval": { type: "string" },
      config: { type: "string" },
      "log-level": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

export function parseCli(
  argv: string[],
  env: NodeJS.ProcessEnv,
  isTty: boolean,
  cwd = process.cwd(),
): DevArgs {
  const { values, positionals } = readDevFlags(argv);
  if (values.help) throw new UsageError(USAGE);
  const command = positionals[0];
  if (command !== "dev") throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}\n${USAGE}`);

  const file = configFileOf(cwd, values.config);
  const f = file?.settings ?? {};
  const appUrls = appUrlsOf(values.url, env, f);
  const port = devPortOf(values.port, env, f);
  const retryIntervalMs = retryIntervalOf(values["retry-interval"], env, f["retry-interval"]);
  const leaseTtlMs = leaseTtlOf(values["lease-ttl"], UsageError);
  const eventKeys = eventKeysOf(values["event-key"], env, f);
  const natsUrl = values["nats-url"] ?? env.JETSTEP_NATS_URL ?? env.NATS_URL ?? f["nats-url"];
  const logLevel = values["log-level"] ?? env.JETSTEP_LOG_LEVEL ?? f["log-level"] ?? "info";
  return {
    command: "dev",
    ...(natsUrl ? { natsUrl } : {}),
    host: values.host ?? env.JETSTEP_HOST ?? f.host ?? "127.0.0.1",
    port,
    appUrls,
    ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
    ...(leaseTtlMs !== undefined ? { leaseTtlMs } : {}),
    eventKeys,
    corsOrigins: corsOriginsOf(values["cors-origin"], env, UsageError),
    logLevel,
    pretty: isTty && !values.json,
    ...(file ? { configFile: file.file } : {}),
    ...discoveryOf(appUrls, values["no-discovery"], values["poll-interval"]),
  };
}

/** The config file (`--config`, else the first of CONFIG_FILES in `cwd`); its errors are usage errors. */
function configFileOf(cwd: string, explicit: string | undefined): ReturnType<typeof loadConfigFile> {
  try {
    return loadConfigFile(cwd, explicit);
  } catch (e) {
    if (e instanceof ConfigFileError) throw new UsageError(e.message);
    throw e;
  }
}

/** `-u` (repeatable), else JETSTEP_/INNGEST_URLS (comma-separated), else the file's `urls` and `sdk-url`. */
function appUrlsOf(flags: string[] | undefined, env: NodeJS.ProcessEnv, f: FileSettings): string[] {
  if (flags) return flags;
  const fromEnv = envOf(env, "URLS");
  if (fromEnv)
    return fromEnv[1]
      .split(",")
      .map((u) => u.trim())
      .filter(Boolean);
  return [...(f.urls ?? []), ...(f["sdk-url"] === undefined ? [] : [f["sdk-url"]].flat())];
}

/** `--port`, else JETSTEP_/INNGEST_PORT, else the file's, else 8288. */
function devPortOf(flag: string | undefined, env: NodeJS.ProcessEnv, f: FileSettings): number {
  if (flag !== undefined) return portOf("--port", flag);
  const fromEnv = envOf(env, "PORT");
  if (fromEnv) return portOf(fromEnv[0], fromEnv[1]);
  return f.port !== undefined ? f.port : 8288;
}

/** `--event-key` (repeatable), else JETSTEP_/INNGEST_EVENT_KEY, else the file's; none means any key. */
function eventKeysOf(flags: string[] | undefined, env: NodeJS.ProcessEnv, f: FileSettings): string[] {
  if (flags) return flags;
  const fromEnv = envOf(env, "EVENT_KEY");
  if (fromEnv) return [fromEnv[1]];
  return f["event-key"] === undefined ? [] : [f["event-key"]].flat();
}

/**
 * `--retry-interval` (seconds) of `jetstep dev` and `jetstep start`, else JETSTEP_/INNGEST_RETRY_INTERVAL,
 * else the file's.
 */
export function retryIntervalOf(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  fromFile: number | undefined,
  error: new (message: string) => Error = UsageError,
): number | undefined {
  if (flag !== undefined) return secondsOf("--retry-interval", flag, error);
  const fromEnv = envOf(env, "RETRY_INTERVAL");
  if (fromEnv) return secondsOf(fromEnv[0], fromEnv[1], error);
  return fromFile !== undefined ? Math.round(fromFile * 1000) : undefined;
}

/** Discovery runs when no app URL is given (`-u`, env or file) and `--no-discovery` is absent. */
function discoveryOf(
  appUrls: string[],
  off: boolean | undefined,
  pollInterval: string | undefined,
): Pick<DevArgs, "discovery"> {
  const intervalMs = pollInterval === undefined ? 5_000 : secondsOf("--poll-interval", pollInterval);
  if (pollInterval !== undefined && intervalMs < 1_000)
    throw new UsageError(`--poll-interval: ${pollInterval} is under 1 second`);
  return appUrls.length > 0 || off ? {} : { discovery: { intervalMs } };
}
