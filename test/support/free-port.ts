import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/**
 * Where ports come from: below the kernel's ephemeral range (Linux: 32768–60999 by default), so no
 * outgoing connection of this machine (a NATS client, an HTTP call) is given the port between
 * `freePort` answering and the caller binding it. A port from `listen(0)` is from that range, and
 * under load a connection took one before the process it was meant for bound it (EADDRINUSE).
 */
const FIRST = 20_000;

function ephemeralStart(): number {
  try {
    const [low] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > FIRST + 1000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

const LAST = ephemeralStart() - 1;

function tryListen(port: number, host: string): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(null));
    srv.listen(port, host, () => {
      const addr = srv.address();
      const got = addr !== null && typeof addr !== "string" ? addr.port : null;
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, taken from below the ephemeral range (see
 * above); another listener can still take it before you bind, so prefer `port: -1` + a ports file
 * where the server supports it. Falls back to a port the kernel picks.
 */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = FIRST + Math.floor(Math.random() * (LAST - FIRST + 1));
    const got = await tryListen(port, host);
    if (got !== null) return got;
  }
  const any = await tryListen(0, host);
  if (any === null) throw new Error(`freePort: could not listen on ${host}`);
  return any;
}
