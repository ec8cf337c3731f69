/**
 * `jetstep start --health-port <n>`: `GET /healthz` for container health checks and liveness
 * probes, 200 while this process's services run on a live NATS connection, 503 otherwise. It
 * answers nothing else and says nothing about runs: only whether this process works.
 */
import { createServer } from "node:http";

export interface Health {
  ok: boolean;
  /** Short facts behind `ok` (the services, the NATS connection), for whoever looks. */
  detail: Record<string, unknown>;
}

export interface HealthServer {
  readonly port: number;
  stop(): Promise<void>;
}

export function startHealthServer(host: string, port: number, check: () => Health): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (req.method !== "GET" || path !== "/healthz") {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"only GET /healthz here"}');
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
