/**
 * `jetstep start`: production mode. Connects to an external NATS (several URLs, credentials/TLS
 * passed through), creates streams with `--replicas`, runs all or chosen services, and refuses to
 * start without event keys and a signing key.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { appUrlPolicy } from "@jetstep/core";
import type { NatsAuthSettings } from "@jetstep/jetstream";
import { corsOriginsOf, leaseTtlOf, retryIntervalOf } from "./args.ts";
import { SERVICES, type Service } from "./runtime.ts";

export interface StartArgs {
  command: "start";
  natsUrls: string[];
  auth: NatsAuthSettings;
  services: Service[];
  replicas: number;
  eventKeys: string[];
  signingKey: string;
  /** REST API and UI credentials: read and operate; read only. The signing key also works. */
  apiKeys: string[];
  readApiKeys: string[];
  /** App URL patterns that may be synced, registered and called, the `-u` URLs included. */
  allowAppUrls: string[];
  /** Browser origins that may send events with an event key (CORS on `POST /e/:key`). */
  corsOrigins: string[];
  host: string;
  port: number;
  /** `GET /healthz` on this port (`health.ts`); none when absent. */
  healthPort?: number;
  appUrls: string[];
  /** Partition and cron lease TTL; the runtime's default (10 s) when absent. */
  leaseTtlMs?: number;
  /** A fixed retry backoff instead of the production schedule (staging, tests). */
  retryIntervalMs?: number;
  logLevel: string;
  pretty: boolean;
}

export const START_USAGE = `usage: jetstep start --nats-url <url[,url…]> --event-key <key> --signing-key <key> [options]

  --nats-url <urls>          NATS servers, comma-separated (env JETSTEP_NATS_URL / NATS_URL)
  --nats-creds <file>        credentials file; --nats-user/--nats-pass (or --nats-pass-file) or
                             --nats-token otherwise (env JETSTEP_NATS_CREDS, JETSTEP_NATS_USER,
                             JETSTEP_NATS_PASS, JETSTEP_NATS_TOKEN)
  --nats-tls-ca <file>       TLS CA; --nats-tls-cert <file> --nats-tls-key <file> for mutual TLS
  --services <list>          gateway,matcher,executor,cron (default: all)
  --replicas <n>             stream replicas when creating streams (default 3)
  --event-key <key>          accepted event keys, repeatable (env JETSTEP_EVENT_KEYS, comma-separated)
  --signing-key <key>        signkey-<env>-<hex> (env JETSTEP_SIGNING_KEY / INNGEST_SIGNING_KEY)
  --api-key <key>            REST API and UI key that may read and operate, repeatable
                             (env JETSTEP_API_KEYS, comma-separated); the signing key also does
  --read-api-key <key>       REST API and UI key that may only read, repeatable (env JETSTEP_READ_API_KEYS)
  --event-key-file, --signing-key-file, --api-key-file, --read-api-key-file <file>
                             the same read from a file (one key per line): keys given on the
                             command line show in the process list, so prefer files or the env
  --host <host> --port <n>   gateway bind address (default 0.0.0.0:8288)
  --health-port <n>          GET /healthz on this port (and --host): 200 while this process's
                             services run on a live NATS connection, else 503 (env JETSTEP_HEALTH_PORT)
  -u, --url <url>            app URLs to keep synced (repeatable); these may always be called
  --allow-app-url <pattern>  other app URLs apps may register and be called at, repeatable (env
                             JETSTEP_ALLOW_APP_URLS, comma-separated), e.g. http://orders:3000/api/inngest
                             or https://*.svc.example.com/api/* (NATS workers need none)
  --cors-origin <origin>     a browser origin whose pages may send events (POST /e/:key, with an
                             event key), repeatable (env JETSTEP_CORS_ORIGINS, comma-separated);
                             every other site's browser requests are refused
  --lease-ttl <duration>     how long a partition or cron lease outlives a holder that stopped
                             renewing it, e.g. 3s (default 10s): how soon work moves off a dead process
  --retry-interval <s>       a fixed retry backoff in seconds instead of the production schedule
                             (15 s, 30 s, 1 m … 2 h, plus up to 10% jitter), for staging and tests (env
                             JETSTEP_RETRY_INTERVAL / INNGEST_RETRY_INTERVAL)
  --log-level <level>        trace|debug|info|warn|error (default info)`;

export class StartUsageError extends Error {
  override name = "StartUsageError";
}

/** The flags of `jetstep start` as given; node's `parseArgs` refuses unknown ones. */
function readStartFlags(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "nats-url": { type: "string" },
      "nats-creds": { type: "string" },
      "nats-user": { type: "string" },
      "nats-pass": { type: "string" },
      "nats-pass-file": { type: "string" },
      "nats-token": { type: "string" },
      "nats-tls-ca": { type: "string" },
      "nats-tls-cert": { type: "string" },
      "nats-tls-key": { type: "string" },
      services: { type: "string" },
      replicas: { type: "string" },
      "event-key": { type: "string", multiple: true },
      "signing-key": { type: "string" },
      "api-key": { type: "string", multiple: true },
      "read-api-key": { type: "string", multiple: true },
      "event-key-file": { type: "string" },
      "signing-key-file": { type: "string" },
      "api-key-file": { type: "string" },
      "read-api-key-file": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      "health-port": { type: "string" },
      url: { type: "string", short: "u", multiple: true },
      "allow-app-url": { type: "string", multiple: true },
      "cors-origin": { type: "string", multiple: true },
      "lease-ttl": { type: "string" },
      "retry-interval": { type: "string" },
      "log-level": { type: "string" },
      json: { type: "boolean" },
    },
  });
}

type StartFlags = ReturnType<typeof readStartFlags>["values"];

/** The keys in a `--…-file` flag's file, or undefined when the flag is absent. */
type KeysFile = (flag: string, path: string | undefined) => string[] | undefined;

export function parseStart(
  argv: string[],
  env: NodeJS.ProcessEnv,
  isTty: boolean,
  readFile: (path: string) => string = (path) => readFileSync(path, "utf8"),
): StartArgs {
  const { values } = readStartFlags(argv);
  const natsUrl = values["nats-url"] ?? env.JETSTEP_NATS_URL ?? env.NATS_URL;
  if (!natsUrl)
    throw new StartUsageError(
      `jetstep start needs --nats-url (or NATS_URL): production runs on an external NATS cluster\n${START_USAGE}`,
    );
  const keysFile: KeysFile = (flag, path) =>
    path === undefined ? undefined : readKeysFile(flag, path, readFile);
  const keys = keysOf(values, env, keysFile);
  const services = servicesOf(values.services);
  const replicas = Number(values.replicas ?? 3);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)
    throw new StartUsageError(`--replicas: ${values.replicas} is not 1–5`);
  const { port, healthPort } = portsOf(values.port, values["health-port"], env);
  const appUrls = values.url ?? [];
  const allowAppUrls = allowAppUrlsOf(values["allow-app-url"], env, appUrls);
  const auth = natsAuthOf(values, env, keysFile);
  const corsOrigins = corsOriginsOf(values["cors-origin"], env, StartUsageError);
  return {
    command: "start",
    natsUrls: listed(natsUrl),
    auth,
    services,
    replicas,
    ...keys,
    host: values.host ?? env.JETSTEP_HOST ?? "0.0.0.0",
    port,
    ...(healthPort !== undefined ? { healthPort } : {}),
    appUrls,
    allowAppUrls,
    corsOrigins,
    ...timingsOf(values["lease-ttl"], values["retry-interval"], env),
    logLevel: values["log-level"] ?? env.JETSTEP_LOG_LEVEL ?? "info",
    pretty: isTty && !values.json,
  };
}

/** A comma-separated list (a flag's or a variable's), trimmed, without empty items. */
function listed(raw: string | undefined): string[] {
  return (raw ?? "")
    .split(",")
    .map((k) => k.trim())
    .filter(Boolean);
}

/** A keys file: one key per line, blank lines and `#` comments skipped; an empty one is refused. */
function readKeysFile(flag: string, path: string, readFile: (path: string) => string): string[] {
  let text: string;
  try {
    text = readFile(path);
  } catch (e) {
    throw new StartUsageError(`--${flag}: cannot read ${path}: ${(e as Error).message}`);
  }
  const keys = text
    .split(/\r?\n/)
    .map((k) => k.trim())
    .filter((k) => k && !k.startsWith("#"));
  if (keys.length === 0) throw new StartUsageError(`--${flag}: ${path} holds no key`);
  return keys;
}

/**
 * The event, signing and API keys, each from its flag, else its file, else the env (API keys from
 * all three). Refuses a start without an event key or a well-formed signing key, and short API keys.
 */
function keysOf(
  values: StartFlags,
  env: NodeJS.ProcessEnv,
  keysFile: KeysFile,
): Pick<StartArgs, "eventKeys" | "signingKey" | "apiKeys" | "readApiKeys"> {
  const eventKeys =
    values["event-key"] ??
    keysFile("event-key-file", values["event-key-file"]) ??
    listed(env.JETSTEP_EVENT_KEYS ?? env.INNGEST_EVENT_KEY);
  if (eventKeys.length === 0) {
    throw new StartUsageError(
      "jetstep start needs at least one event key (--event-key or JETSTEP_EVENT_KEYS): without one anyone could send events",
    );
  }
  const signingKey =
    values["signing-key"] ??
    keysFile("signing-key-file", values["signing-key-file"])?.[0] ??
    env.JETSTEP_SIGNING_KEY ??
    env.INNGEST_SIGNING_KEY;
  const apiKeys = [
    ...(values["api-key"] ?? []),
    ...(keysFile("api-key-file", values["api-key-file"]) ?? []),
    ...listed(env.JETSTEP_API_KEYS),
  ];
  const readApiKeys = [
    ...(values["read-api-key"] ?? []),
    ...(keysFile("read-api-key-file", values["read-api-key-file"]) ?? []),
    ...listed(env.JETSTEP_READ_API_KEYS),
  ];
  for (const k of [...apiKeys, ...readApiKeys])
    if (k.length < 16)
      throw new StartUsageError(
        "--api-key: an API key must be at least 16 characters (e.g. openssl rand -hex 24)",
      );
  if (!signingKey) {
    throw new StartUsageError(
      "jetstep start needs a signing key (--signing-key or JETSTEP_SIGNING_KEY): calls to apps are signed with it",
    );
  }
  if (!/^signkey-[A-Za-z0-9]+-[0-9a-fA-F]+$/.test(signingKey)) {
    throw new StartUsageError("--signing-key: expected signkey-<env>-<hex>, e.g. signkey-prod-0123abcd…");
  }
  return { eventKeys, signingKey, apiKeys, readApiKeys };
}

/** `--services` (comma-separated), all of them when absent. */
function servicesOf(raw: string | undefined): Service[] {
  const services = (raw ?? SERVICES.join(",")).split(",").map((s) => s.trim());
  for (const s of services) {
    if (!(SERVICES as readonly string[]).includes(s))
      throw new StartUsageError(`--services: unknown service "${s}" (known: ${SERVICES.join(", ")})`);
  }
  return services as Service[];
}

/** `--allow-app-url` and JETSTEP_ALLOW_APP_URLS, plus the `-u` URLs, checked as patterns. */
function allowAppUrlsOf(flags: string[] | undefined, env: NodeJS.ProcessEnv, appUrls: string[]): string[] {
  const allowAppUrls = [...(flags ?? []), ...listed(env.JETSTEP_ALLOW_APP_URLS), ...appUrls];
  try {
    appUrlPolicy(allowAppUrls);
  } catch (e) {
    throw new StartUsageError(`--allow-app-url: ${(e as Error).message}`);
  }
  return allowAppUrls;
}

/** NATS credentials and TLS files, each flag over its JETSTEP_NATS_* variable (an empty one is unset). */
function natsAuthOf(values: StartFlags, env: NodeJS.ProcessEnv, keysFile: KeysFile): NatsAuthSettings {
  const natsCreds = values["nats-creds"] ?? (env.JETSTEP_NATS_CREDS || undefined);
  const natsUser = values["nats-user"] ?? (env.JETSTEP_NATS_USER || undefined);
  const natsPass =
    values["nats-pass"] ??
    keysFile("nats-pass-file", values["nats-pass-file"])?.[0] ??
    (env.JETSTEP_NATS_PASS || undefined);
  const natsToken = values["nats-token"] ?? (env.JETSTEP_NATS_TOKEN || undefined);
  if (natsPass !== undefined && natsUser === undefined)
    throw new StartUsageError("--nats-pass: a password needs a user (--nats-user or JETSTEP_NATS_USER)");
  return {
    ...(natsCreds ? { credsFile: natsCreds } : {}),
    ...(natsUser ? { user: natsUser } : {}),
    ...(natsPass ? { pass: natsPass } : {}),
    ...(natsToken ? { token: natsToken } : {}),
    ...(values["nats-tls-ca"] ? { tlsCaFile: values["nats-tls-ca"] } : {}),
    ...(values["nats-tls-cert"] ? { tlsCertFile: values["nats-tls-cert"] } : {}),
    ...(values["nats-tls-key"] ? { tlsKeyFile: values["nats-tls-key"] } : {}),
  };
}

/** The gateway's `--port` (0: any free one) and the optional `--health-port`. */
function portsOf(
  rawPort: string | undefined,
  rawHealthFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): { port: number; healthPort?: number } {
  const port = Number(rawPort ?? env.JETSTEP_PORT ?? 8288);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new StartUsageError(`--port: ${rawPort} is not a port number`);
  const rawHealth = rawHealthFlag ?? env.JETSTEP_HEALTH_PORT;
  if (rawHealth === undefined || rawHealth === "") return { port };
  const healthPort = Number(rawHealth);
  if (!Number.isInteger(healthPort) || healthPort < 1 || healthPort > 65535)
    throw new StartUsageError(`--health-port: ${rawHealth} is not a port number`);
  return { port, healthPort };
}

/** `--lease-ttl` and `--retry-interval`, each only when given. */
function timingsOf(
  leaseTtl: string | undefined,
  retryInterval: string | undefined,
  env: NodeJS.ProcessEnv,
): Pick<StartArgs, "leaseTtlMs" | "retryIntervalMs"> {
  const leaseTtlMs = leaseTtlOf(leaseTtl, StartUsageError);
  const retryIntervalMs = retryIntervalOf(retryInterval, env, undefined, StartUsageError);
  return {
    ...(leaseTtlMs !== undefined ? { leaseTtlMs } : {}),
    ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
  };
}
