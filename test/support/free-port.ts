import { createServer } from "node:net";

/**
 * A TCP port that was free on 127.0.0.1 a moment ago (listen on 0, close). Another process can take
 * it before you bind; prefer `port: -1` + a ports file where the server supports it.
 */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error(`freePort: unexpected address ${String(addr)}`));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}
