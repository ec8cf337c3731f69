import { MIN_NATS_SERVER_VERSION, parseVersion, versionAtLeast } from "@jetstep/core";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  TimeoutError,
} from "@nats-io/transport-node";

export interface Nats {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Server version as [major, minor, patch]. */
  version: [number, number, number];
  /** Whether the connection is up now (not closed, not between a disconnect and a reconnect). */
  connected(): boolean;
  close(): Promise<void>;
}

export class UnsupportedServerError extends Error {
  override name = "UnsupportedServerError";
}

/**
 * A request whose connection dropped before its answer came: the answer is lost (it would come on
 * the old connection), so it fails at the disconnect instead of at its timeout. What it asked for
 * may or may not have been done, exactly as after a timeout, of which this is a kind: callers
 * that retry a timeout retry this too, at once.
 */
export class ConnectionLostError extends TimeoutError {
  constructor(subject: string) {
    super();
    this.name = "ConnectionLostError";
    this.message = `no answer to the request on ${subject}: the connection to nats-server was lost`;
  }
}

/**
 * Requests across a lost connection. nats.js neither fails a request whose connection drops (its
 * answer would come on the old connection) nor answers one made while disconnected (measured on
 * nats.js 3.4: both wait out their timeout, though the new connection is up within a second).
 * After a nats-server restart, checkpoints forwarded by the gateway waited their 35 s timeout and
 * lease renewals and reads their 10 s, and runs with them. So every request on the connection
 * (core requests, and the JetStream, KV and direct-get calls nats.js builds on them):
 * - in flight when the connection drops fails at once with ConnectionLostError;
 * - made while disconnected waits for the new connection (within its timeout), then goes out.
 */
class RequestGuard {
  private up = true;
  /** Requests in flight: each fails with ConnectionLostError when called. */
  private readonly inFlight = new Set<() => void>();
  /** Requests made while disconnected: each goes out when called. */
  private readonly held = new Set<() => void>();

  constructor(nc: NatsConnection) {
    const request = nc.request.bind(nc);
    nc.request = (subject, payload, opts) =>
      new Promise((resolve, reject) => {
        const timeoutMs = opts?.timeout ?? 1000;
        const send = (remainingMs: number) => {
          const lost = () => reject(new ConnectionLostError(subject));
          this.inFlight.add(lost);
          request(subject, payload, { ...opts, timeout: remainingMs })
            .then(resolve, reject)
            .finally(() => this.inFlight.delete(lost));
        };
        if (this.up) {
          send(timeoutMs);
          return;
        }
        const heldAt = Date.now();
        const release = () => {
          clearTimeout(timer);
          this.held.delete(release);
          send(Math.max(1, timeoutMs - (Date.now() - heldAt)));
        };
        const timer = setTimeout(() => {
          this.held.delete(release);
          reject(new TimeoutError());
        }, timeoutMs);
        this.held.add(release);
      });
  }

  disconnected(): void {
    this.up = false;
    const lost = [...this.inFlight];
    this.inFlight.clear();
    for (const fail of lost) fail();
  }

  reconnected(): void {
    this.up = true;
    for (const release of [...this.held]) release();
  }
}

/** How long closing waits for a drain before closing outright. */
const CLOSE_DRAIN_MS = 5_000;

/**
 * Connects and checks that the server has JetStream and is at least `MIN_NATS_SERVER_VERSION`
 * (read from the server's INFO); throws UnsupportedServerError (one line) otherwise.
 */
export async function connectNats(opts: ConnectionOptions): Promise<Nats> {
  // noAsyncTraces: otherwise every request (checkpoints, KV and direct gets, consumer calls) builds
  // an Error for its stack up front: 7% of Jetstep's CPU in a W1 profile.
  // reconnectTimeWait: nats.js waits 2 s between tries of a server; a restarted nats-server is up
  // within a second, and leases with a short TTL lapsed in the gap (measured: kept at 0.5 s).
  const nc = await connect({
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    noAsyncTraces: true,
    ...opts,
  });
  const info = nc.info;
  const version = (parseVersion(info?.version ?? "") ?? [0, 0, 0]) as [number, number, number];
  if (!info?.jetstream) {
    await nc.close();
    throw new UnsupportedServerError(
      `nats-server at ${nc.getServer()} has JetStream disabled: start it with -js`,
    );
  }
  if (!versionAtLeast(info.version, MIN_NATS_SERVER_VERSION)) {
    const server = nc.getServer();
    await nc.close();
    throw new UnsupportedServerError(
      `nats-server ${info.version} at ${server} is older than ${MIN_NATS_SERVER_VERSION}, which Jetstep needs: upgrade it (npx jetstep install nats-server builds the pinned version)`,
    );
  }
  const requests = new RequestGuard(nc);
  const js = jetstream(nc, { timeout: 10_000 });
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") requests.disconnected();
      if (s.type === "disconnect" || s.type === "reconnecting" || s.type === "close") up = false;
      else if (s.type === "reconnect") {
        up = true;
        requests.reconnected();
      }
    }
  })().catch(() => undefined);
  return {
    nc,
    js,
    jsm,
    version,
    connected: () => up && !nc.isClosed(),
    async close() {
      // Drain (flush what was published, let handlers finish), but never hang shutdown on it: a
      // connection still reconnecting to a dead server would wait forever.
      let timer: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<"timeout">((r) => {
        timer = setTimeout(() => r("timeout"), CLOSE_DRAIN_MS);
      });
      await Promise.race([nc.drain().catch(() => undefined), gaveUp]);
      clearTimeout(timer);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    },
  };
}

export type { ConnectionOptions };

export interface NatsAuthSettings {
  credsFile?: string;
  user?: string;
  pass?: string;
  token?: string;
  tlsCaFile?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** Connection options for credentials and TLS, passed through to nats.js. */
export function natsAuthOptions(
  s: NatsAuthSettings,
  readFile: (path: string) => Uint8Array,
): Omit<ConnectionOptions, "servers"> {
  const out: Omit<ConnectionOptions, "servers"> = {};
  if (s.credsFile) out.authenticator = credsAuthenticator(readFile(s.credsFile));
  if (s.user) out.user = s.user;
  if (s.pass) out.pass = s.pass;
  if (s.token) out.token = s.token;
  if (s.tlsCaFile || s.tlsCertFile || s.tlsKeyFile) {
    out.tls = {
      ...(s.tlsCaFile ? { caFile: s.tlsCaFile } : {}),
      ...(s.tlsCertFile ? { certFile: s.tlsCertFile } : {}),
      ...(s.tlsKeyFile ? { keyFile: s.tlsKeyFile } : {}),
    };
  }
  return out;
}
