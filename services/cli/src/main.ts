/** `jetstep` command line: wiring only (reads argv and env, starts the runtime). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { authRequired, credentialCheck } from "@jetstep/gateway";
import { natsAuthOptions, UnsupportedServerError } from "@jetstep/jetstream";
import { createLogger, PROMETHEUS_CONTENT_TYPE, startTracing } from "@jetstep/telemetry";
import { ToolchainError } from "@jetstep/toolchain";
import { parseCli, UsageError } from "./args.ts";
import { discoveryPorts } from "./discovery.ts";
import { type EmbeddedNats, ensureNatsServer, startEmbeddedNats } from "./embedded-nats.ts";
import { type MetricsEndpoint, startHealthServer } from "./health.ts";
import { HELP, helpFor } from "./help.ts";
import { install } from "./install.ts";
import { checkPortFree, PortInUseError } from "./port-check.ts";
import { type Runtime, startRuntime } from "./runtime.ts";
import { parseStart, type StartArgs, StartUsageError } from "./start-args.ts";
import { StoreInUseError } from "./store-lock.ts";

/** The gateway's port must be free: found before anything starts, in one line naming --port. */
async function ensurePortFree(command: string, host: string, port: number): Promise<void> {
  try {
    await checkPortFree(host, port);
  } catch (e) {
    if (!(e instanceof PortInUseError)) throw e;
    process.stderr.write(`jetstep ${command}: ${e.message}\n`);
    process.exit(1);
  }
}

/** `jetstep start`: production services on an external NATS. */
async function start(): Promise<void> {
  let args: StartArgs;
  try {
    args = parseStart(process.argv.slice(3), process.env, Boolean(process.stdout.isTTY));
  } catch (e) {
    if (e instanceof StartUsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (args.services.includes("gateway")) await ensurePortFree("start", args.host, args.port);
  const log = createLogger({ level: args.logLevel, pretty: args.pretty });
  const [only] = args.services;
  const serviceName = args.services.length === 1 && only ? `jetstep-${only}` : "jetstep";
  const tracing = await startTracing({ serviceName });
  if (tracing.enabled) log.info("exporting traces with OpenTelemetry (OTEL_* settings)");
  const runtime = await startRuntime({
    serviceName,
    natsUrl: args.natsUrls,
    natsOptions: natsAuthOptions(args.auth, (path) => readFileSync(path)),
    services: args.services,
    replicas: args.replicas,
    host: args.host,
    port: args.port,
    appUrls: args.appUrls,
    syncIntervalMs: 30_000,
    ...traceUrlOf(process.env),
    ...(args.leaseTtlMs !== undefined ? { leaseTtlMs: args.leaseTtlMs } : {}),
    ...(args.retryIntervalMs !== undefined ? { retryIntervalMs: args.retryIntervalMs } : {}),
    eventKeys: args.eventKeys,
    signingKey: args.signingKey,
    apiKeys: args.apiKeys,
    readApiKeys: args.readApiKeys,
    allowAppUrls: args.allowAppUrls,
    corsOrigins: args.corsOrigins,
    log,
  });
  let stopping = false;
  const health =
    args.healthPort === undefined
      ? undefined
      : await startHealthServer(
          args.host,
          args.healthPort,
          () => {
            const nats = runtime.nats.connected();
            return {
              ok: nats && !stopping,
              detail: { services: args.services, nats: nats ? "connected" : "down" },
            };
          },
          healthMetrics(runtime, args),
        );
  log.info(
    {
      services: args.services,
      replicas: args.replicas,
      gateway: runtime.gatewayUrl || undefined,
      healthPort: health?.port,
    },
    `Jetstep started: ${args.services.join(", ")}`,
  );
  const shutdown = async (signal: string) => {
    stopping = true;
    log.info({ signal }, "shutting down");
    await health?.stop();
    await runtime.stop().catch((e) => log.error({ err: e }, "error while stopping"));
    await tracing.shutdown().catch((e) => log.warn({ err: e }, "could not flush traces"));
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
}

/** The health port's `GET /metrics`: readable with any API key (or the signing key) when keys are set. */
function healthMetrics(runtime: Runtime, args: StartArgs): MetricsEndpoint {
  const keys = { apiKeys: args.apiKeys, readApiKeys: args.readApiKeys, signingKey: args.signingKey };
  const check = credentialCheck(keys);
  const required = authRequired(keys);
  return {
    text: () => runtime.metrics.prometheusText(),
    contentType: PROMETHEUS_CONTENT_TYPE,
    allowed: (authorization) => !required || ["full", "read"].includes(check(authorization)),
  };
}

async function main(): Promise<void> {
  const help = helpFor(process.argv.slice(2));
  if (help !== undefined) {
    process.stdout.write(`${help}\n`);
    return;
  }
  if (process.argv[2] === "start") return start();
  if (process.argv[2] === "install") return install(process.argv.slice(3));
  if (process.argv[2] !== "dev") {
    process.stderr.write(`jetstep: unknown command ${JSON.stringify(process.argv[2])}\n${HELP}\n`);
    process.exit(2);
  }
  return dev();
}

/** `jetstep dev`: an embedded nats-server (unless --nats-url) and every service in this process. */
async function dev(): Promise<void> {
  let args: ReturnType<typeof parseCli>;
  try {
    args = parseCli(process.argv.slice(2), process.env, Boolean(process.stdout.isTTY));
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`${(e as Error).message}\n`);
      process.exit(2);
    }
    throw e;
  }
  await ensurePortFree("dev", args.host, args.port);
  const log = createLogger({ level: args.logLevel, pretty: args.pretty });
  // Dev exports traces only when OTEL_* settings ask for it (e.g. OTEL_EXPORTER_OTLP_ENDPOINT).
  const tracing = await startTracing({ serviceName: "jetstep" });
  if (tracing.enabled) log.info("exporting traces with OpenTelemetry (OTEL_* settings)");
  let embedded: EmbeddedNats | undefined;
  let runtime: Runtime | undefined;
  let stopping = false;
  // Installed before anything starts: a Ctrl-C during start-up must still stop nats-server, which
  // runs in its own process group and so does not get the terminal's signal. nats-server stops
  // last, once the services have flushed to it.
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    await runtime?.stop().catch((e) => log.error({ err: e }, "error while stopping"));
    await tracing.shutdown().catch((e) => log.warn({ err: e }, "could not flush traces"));
    await embedded?.stop();
    process.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
    process.on(signal, () => void shutdown(signal));

  let natsUrl = args.natsUrl;
  if (!natsUrl) {
    try {
      const server = await ensureNatsServer(process.env, (m) => log.info(m));
      embedded = await startEmbeddedNats(server.path, join(process.cwd(), ".jetstep", "nats"), log);
      natsUrl = embedded.url;
      log.info(
        { natsUrl, natsPid: embedded.pid, version: server.version, bin: server.path, syncInterval: "always" },
        "embedded nats-server started",
      );
    } catch (e) {
      if (e instanceof ToolchainError || e instanceof StoreInUseError) {
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
  }
  runtime = await startRuntime({
    natsUrl,
    host: args.host,
    port: args.port,
    appUrls: args.appUrls,
    syncIntervalMs: 5_000,
    log,
    ...(args.retryIntervalMs !== undefined ? { retryIntervalMs: args.retryIntervalMs } : {}),
    ...(args.leaseTtlMs !== undefined ? { leaseTtlMs: args.leaseTtlMs } : {}),
    eventKeys: args.eventKeys,
    corsOrigins: args.corsOrigins,
    ...traceUrlOf(process.env),
    ...(args.discovery ? { discovery: { ...args.discovery, ports: discoveryPorts(process.env) } } : {}),
  });
  if (args.configFile) log.info({ file: args.configFile }, "settings read from a config file");
  log.info(
    {
      url: runtime.gatewayUrl,
      apps: args.appUrls,
      discovery: args.discovery ? "on (--no-discovery)" : "off",
    },
    `Jetstep dev server ready: UI and API at ${runtime.gatewayUrl}`,
  );
}

/** `JETSTEP_TRACE_URL`: where the UI links a run's exported trace (`{traceId}` is replaced). */
function traceUrlOf(env: NodeJS.ProcessEnv): { traceUrl?: string } {
  const url = env.JETSTEP_TRACE_URL?.trim();
  return url ? { traceUrl: url } : {};
}

main().catch((e) => {
  // Conditions a user fixes (a server too old, a binary missing) are one line; anything else a stack.
  const oneLine = e instanceof UnsupportedServerError || e instanceof ToolchainError;
  process.stderr.write(`jetstep: ${oneLine ? (e as Error).message : ((e as Error).stack ?? String(e))}\n`);
  process.exit(1);
});
