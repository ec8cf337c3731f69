/**
 * `jetstep start --health-port <n>`: `GET /healthz` for container health checks and liveness
 * probes, 200 while this process's services run on a live NATS connection, 503 otherwise (open:
 * it says nothing about runs, only whether this process works). And `GET /metrics`, this
 * process's metrics in the Prometheus text format, for processes without a gateway (an executor
 * alone): behind the same credential as the REST API's reads when keys are configured.
 */
import { createServer, type ServerResponse } from "node:http";

export interface Health {
  ok: boolean;
  /** Short facts behind `ok` (the services, the NATS connection), for whoever looks. */
  detail: Record<string, unknown>;
}

export interface HealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** `GET /metrics` of the health port: the text, and who may read it. */
export interface MetricsEndpoint {
  text(): Promise<string>;
  contentType: string;
  /** Whether a request with this `Authorization` header may read the metrics. */
  allowed(authorization: string | undefined): boolean;
}

export function startHealthServer(
  host: string,
  port: number,
  check: () => Health,
  metrics?: MetricsEndpoint,
): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (req.method === "GET" && path === "/metrics" && metrics) {
      serveMetrics(metrics, req.headers.authorization, res);
      return;
    }
    if (req.method !== "GET" || path !== "/healthz") {
      const only = metrics ? "GET /healthz and GET /metrics" : "GET /healthz";
      res
        .writeHead(404, { "content-type": "application/json" })
        .end(JSON.stringify({ error: `only ${only} here` }));
      return;
    }
    const h = check();
    res
      .writeHead(h.ok ? 200 : 503, { "content-type": "application/json", "cache-control": "no-store" })
      .end(JSON.stringify({ status: h.ok ? "ok" : "unavailable", ...h.detail }));
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as { port: number }).port,
        stop: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

function serveMetrics(
  metrics: MetricsEndpoint,
  authorization: string | undefined,
  res: ServerResponse,
): void {
  if (!metrics.allowed(authorization)) {
    res
      .writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="jetstep"' })
      .end('{"error":"authorization: send Authorization: Bearer <API key or read-only API key>"}');
    return;
  }
  metrics.text().then(
    (text) =>
      res.writeHead(200, { "content-type": metrics.contentType, "cache-control": "no-store" }).end(text),
    (e: Error) =>
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: e.message })),
  );
}
