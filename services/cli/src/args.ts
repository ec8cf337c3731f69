import { parseArgs } from "node:util";
import { parseDuration } from "@jetstep/core";

export interface DevArgs {
  command: "dev";
  natsUrl?: string;
  host: string;
  port: number;
  appUrls: string[];
  retryIntervalMs?: number;
  leaseTtlMs?: number;
  logLevel: string;
  pretty: boolean;
}

export class UsageError extends Error {
  override name = "UsageError";
}

export const USAGE = `usage: jetstep dev [options]

  -u, --url <url>           app URL to sync (repeatable), e.g. http://localhost:3000/api/inngest
  -p, --port <port>         gateway port (default 8288)
      --host <host>         gateway bind address (default 127.0.0.1)
      --nats-url <url>      use this NATS server instead of an embedded one (env NATS_URL)
      --retry-interval <s>  fixed retry backoff in seconds (local work)
      --log-level <level>   trace|debug|info|warn|error (default info)
      --json                JSON logs even on a TTY`;

export function parseCli(argv: string[], env: NodeJS.ProcessEnv, isTty: boolean): DevArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string", short: "u", multiple: true },
      port: { type: "string", short: "p" },
      host: { type: "string" },
      "nats-url": { type: "string" },
      "retry-interval": { type: "string" },
      "lease-ttl": { type: "string" },
      "log-level": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new UsageError(USAGE);
  const command = positionals[0];
  if (command !== "dev") throw new UsageError(`unknown command ${JSON.stringify(command ?? "")}\n${USAGE}`);
  const port = Number(values.port ?? env.JETSTEP_PORT ?? 8288);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port: ${values.port} is not a port number`);
  let retryIntervalMs: number | undefined;
  if (values["retry-interval"] !== undefined) {
    const s = Number(values["retry-interval"]);
    if (!Number.isFinite(s) || s < 0)
      throw new UsageError(`--retry-interval: ${values["retry-interval"]} is not a number of seconds`);
    retryIntervalMs = Math.round(s * 1000);
  }
  let leaseTtlMs: number | undefined;
  if (values["lease-ttl"] !== undefined) {
    try {
      leaseTtlMs = parseDuration(values["lease-ttl"]);
    } catch (e) {
      throw new UsageError(`--lease-ttl: ${(e as Error).message}`);
    }
  }
  const natsUrl = values["nats-url"] ?? env.NATS_URL;
  return {
    command: "dev",
    ...(natsUrl ? { natsUrl } : {}),
    host: values.host ?? "127.0.0.1",
    port,
    appUrls: values.url ?? [],
    ...(retryIntervalMs !== undefined ? { retryIntervalMs } : {}),
    ...(leaseTtlMs !== undefined ? { leaseTtlMs } : {}),
    logLevel: values["log-level"] ?? env.JETSTEP_LOG_LEVEL ?? "info",
    pretty: isTty && !values.json,
  };
}
