import { MIN_NATS_SERVER_VERSION, parseVersion, versionAtLeast } from "@jetstep/core";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
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

/** How long closing waits for a drain before closing outright. */
const CLOSE_DRAIN_MS = 5_000;

/**
 * Connects and checks that the server has JetStream and is at least `MIN_NATS_SERVER_VERSION`
 * (read from the server's INFO); throws UnsupportedServerError (one line) otherwise.
 */
export async function connectNats(opts: ConnectionOptions): Promise<Nats> {
  // noAsyncTraces: otherwise every request (checkpoints, KV and direct gets, consumer calls) builds
  // an Error for its stack up front: 7% of Jetstep's CPU in a W1 profile.
  const nc = await connect({ maxReconnectAttempts: -1, noAsyncTraces: true, ...opts });
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
  const js = jetstream(nc, { timeout: 10_000 });
  const jsm = await jetstreamManager(nc, { timeout: 10_000 });
  let up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnecting" || s.type === "close") up = false;
      else if (s.type === "reconnect") up = true;
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
