/**
 * Shared setup for the security tests: a nats-server plus a runtime serving only the gateway,
 * and a raw HTTP request (fetch may not set `Host`).
 */
import { request } from "node:http";
import { startRuntime } from "@jetstep/cli";
import { silentLogger } from "@jetstep/telemetry";
import { type NatsServerHandle, startNatsServer } from "../support/index.ts";

type RuntimeOptions = Parameters<typeof startRuntime>[0];
type Runtime = Awaited<ReturnType<typeof startRuntime>>;

export interface GatewayHandle {
  /** The gateway's base URL (`runtime.gatewayUrl`). */
  url: string;
  nats: NatsServerHandle;
  runtime: Runtime;
  /** Stops the runtime, then the nats-server. */
  stop(): Promise<void>;
}

/**
 * Starts a nats-server and a gateway-only runtime on 127.0.0.1 (any port, no app URLs, a 60 s
 * sync interval, silent logs); `extra` adds to or overrides these options.
 */
export async function startGateway(extra: Partial<RuntimeOptions> = {}): Promise<GatewayHandle> {
  const nats = await startNatsServer();
  let runtime: Runtime;
  try {
    runtime = await startRuntime({
      natsUrl: nats.url,
      host: "127.0.0.1",
      port: 0,
      appUrls: [],
      syncIntervalMs: 60_000,
      services: ["gateway"],
      log: silentLogger(),
      ...extra,
    });
  } catch (err) {
    await nats.stop();
    throw err;
  }
  return {
    url: runtime.gatewayUrl,
    nats,
    runtime,
    async stop() {
      try {
        await runtime.stop();
      } finally {
        await nats.stop();
      }
    },
  };
}

/** A raw request (fetch may not set `Host`), resolving status and body. */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}
