/**
 * Auto-discovery for `jetstep dev` (as Inngest's dev server does it): without `-u`, probe the local
 * ports and serve paths apps commonly use, and sync whatever answers as an Inngest-protocol app
 * (its `GET` carries `x-inngest-sdk`). Probing is cheap and quiet: a TCP connect to each port at
 * once, HTTP only to ports that accepted, and no log line for a port or path that did not answer.
 */
import { connect } from "node:net";
import { listSyncStatuses, recordSync, SYNC_GIVE_UP_AFTER, type SyncStatuses } from "@jetstep/gateway";
import type { Logger } from "@jetstep/telemetry";

/** The ports Inngest's dev server probes: web frameworks' defaults (and `$PORT`, added by the caller). */
export const DISCOVERY_PORTS: readonly number[] = [
  80, 443, 3000, 3001, 3002, 3003, 3004, 3005, 3006, 3007, 3008, 3009, 3010, 5000, 5173, 8000, 8080, 8081,
  8888, 8910, 8911, 8912, 8913, 8914, 8915,
];

/** The serve paths probed on each open port: the SDKs' default, then hosting platforms'. */
export const DISCOVERY_PATHS: readonly string[] = [
  "/api/inngest",
  "/x/inngest",
  "/.netlify/functions/inngest",
  "/.redwood/functions/inngest",
];

export interface DiscoveryOptions {
  host?: string;
  ports?: readonly number[];
  paths?: readonly string[];
  /** Per connect and per GET. */
  timeoutMs?: number;
  /** Ports never probed (the dev server's own). */
  skip?: ReadonlySet<number>;
}

/** Whether something accepts TCP connections on `host:port`, within `timeoutMs`. */
function isOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** Whether `url` answers a GET as an Inngest-protocol app (the `x-inngest-sdk` header). */
async function isApp(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, { redirect: "manual", signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel().catch(() => undefined);
    return res.headers.has("x-inngest-sdk");
  } catch {
    return false;
  }
}

/**
 * The app URLs found on this machine now: for each open port, the first probed path that answers as
 * an app (one app per port, as one server serves one handler).
 */
export async function discoverApps(opts: DiscoveryOptions = {}): Promise<string[]> {
  const host = opts.host ?? "127.0.0.1";
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const ports = [...new Set(opts.ports ?? DISCOVERY_PORTS)].filter((p) => !opts.skip?.has(p));
  const open = (
    await Promise.all(ports.map(async (p) => ((await isOpen(host, p, timeoutMs)) ? p : -1)))
  ).filter((p) => p > 0);
  const found = await Promise.all(
    open.map(async (port) => {
      for (const path of opts.paths ?? DISCOVERY_PATHS) {
        const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
        if (await isApp(url, timeoutMs)) return url;
      }
      return undefined;
    }),
  );
  return found.filter((u): u is string => u !== undefined);
}

/** The ports to probe: Inngest's list, plus `$PORT` when it names one. */
export function discoveryPorts(env: NodeJS.ProcessEnv): number[] {
  const extra = Number(env.PORT);
  return Number.isInteger(extra) && extra > 0 && extra < 65536
    ? [...DISCOVERY_PORTS, extra]
    : [...DISCOVERY_PORTS];
}

export interface DiscoveryLoopOptions {
  /** How often to probe (`--poll-interval`). */
  intervalMs: number;
  ports: readonly number[];
  /** Ports never probed (the dev server's own). */
  skip: ReadonlySet<number>;
  statuses: SyncStatuses;
  log: Logger;
  /** Per probe; default 2 s. */
  timeoutMs?: number;
}

/**
 * Probes every `intervalMs` and hands each app found to the periodic sync: it records the URL's
 * sync status as `discovered` (the sync loop syncs every recorded URL), unless the URL is known
 * already. A discovered URL the sync gave up on (the app was stopped) is handed over again once it
 * answers again. One log line per app found, none per probe.
 */
export function startDiscovery(opts: DiscoveryLoopOptions): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  let stopped = false;
  const pass = async () => {
    const found = await discoverApps({
      ports: opts.ports,
      skip: opts.skip,
      timeoutMs: opts.timeoutMs ?? 2_000,
    });
    if (found.length === 0 || stopped) return;
    const known = new Map((await listSyncStatuses(opts.statuses)).map((st) => [st.url, st]));
    for (const url of found) {
      const st = known.get(url);
      if (st && !(st.discovered && (st.failures ?? 0) >= SYNC_GIVE_UP_AFTER)) continue;
      await recordSync(opts.statuses, {
        url,
        ok: false,
        error: "not synced yet",
        at: Date.now(),
        discovered: true,
      });
      if (!st) opts.log.info({ url }, `discovered an app at ${url}`);
    }
  };
  const tick = () => {
    if (stopped) return;
    running ??= pass()
      .catch((e) => opts.log.debug({ err: e }, "app discovery pass failed"))
      .finally(() => {
        running = undefined;
      });
  };
  tick();
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
