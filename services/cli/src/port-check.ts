/**
 * A taken port, found before anything starts: `jetstep dev` used to start nats-server, the matcher,
 * the executor and cron (19 s) before the gateway's listen failed with a raw EADDRINUSE stack.
 */
import { createServer } from "node:net";

export class PortInUseError extends Error {
  override name = "PortInUseError";
  constructor(
    readonly host: string,
    readonly port: number,
    reason: string,
  ) {
    super(
      reason === "EADDRINUSE"
        ? `port ${port} on ${host} is already in use (another Jetstep or dev server?): choose another with --port`
        : `cannot listen on ${host}:${port} (${reason}): choose another address with --host / --port`,
    );
  }
}

/**
 * Resolves once `host:port` could be bound (and is released again), or rejects with a
 * PortInUseError naming `--port`. Port 0 (any free port) always passes.
 */
export function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (e: NodeJS.ErrnoException) =>
      reject(new PortInUseError(host, port, e.code ?? e.message)),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
