/**
 * The NATS side of calls to apps served by NATS workers (`jetstep.call.<appId>`, see
 * `nats-app-client.ts` in the executor): one wildcard reply subscription per connection
 * (`<inbox>.*`) serves every call; each call is published with its own reply subject and followed
 * through the worker's progress messages (`Jetstep-Status: 100`) to its answer, or fails with a
 * message naming the app: nobody subscribed, a silent worker (`misses` heartbeats), the overall
 * timeout, a call over the server's max_payload. A worker at its `maxInFlight` answers "busy"
 * (`Jetstep-Status: 429`): the call is sent again after a short backoff (10 ms doubling to 250 ms).
 */
import {
  type CallFailure,
  Subjects,
  WORKER_BUSY_STATUS,
  WORKER_PROGRESS_STATUS,
  WorkerHeaders,
} from "@jetstep/core";
import {
  createInbox,
  InvalidArgumentError,
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import type { Nats } from "./connection.ts";

/** Heartbeat interval assumed until a worker's first message says otherwise. */
export const DEFAULT_WORKER_HEARTBEAT_MS = 1_000;
/** Silent heartbeats after which a worker counts as gone. */
export const DEFAULT_HEARTBEAT_MISSES = 3;
/** Longest pause before sending again a call that a busy worker turned down. */
const MAX_BUSY_BACKOFF_MS = 250;
/** Bounds on the heartbeat interval a worker may advertise. */
const MIN_HEARTBEAT_MS = 10;
const MAX_HEARTBEAT_MS = 60_000;

/**
 * Publishes a call to a worker on `subject` with `headers` and resolves with its answer or why it
 * failed. Never throws.
 */
export function callWorkerOverNats(
  nats: Nats,
  subject: string,
  body: string,
  headers: Record<string, string>,
  limits: CallLimits,
): Promise<WorkerOutcome> {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  return muxOf(nats.nc).call(subject, body, h, limits);
}

/** How a worker call ended: an answer (status, headers, body), or a failure saying why. */
export type WorkerOutcome =
  | { kind: "answer"; status: number; header: (name: string) => string | undefined; body: string }
  | { kind: "failed"; message: string; failure: CallFailure };

/** What bounds a worker call, and what its failures name. */
export interface CallLimits {
  appId: string;
  url: string;
  timeoutMs: number;
  misses: number;
}

interface Pending {
  limits: CallLimits;
  settle(outcome: WorkerOutcome): void;
  /** A message arrived: the worker is alive and working. */
  alive(heartbeatMs: number | undefined): void;
  /** The worker that got the call runs its maximum already: send the call again shortly. */
  busy(): void;
}

const muxes = new WeakMap<NatsConnection, ReplyMux>();

function muxOf(nc: NatsConnection): ReplyMux {
  let mux = muxes.get(nc);
  if (!mux || mux.closed) {
    mux = new ReplyMux(nc);
    muxes.set(nc, mux);
  }
  return mux;
}

/** One wildcard subscription for the replies of every call made on a connection. */
class ReplyMux {
  closed = false;
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;

  constructor(private readonly nc: NatsConnection) {
    // Honour a custom inbox prefix (set for subject permissions) when the connection has one.
    this.prefix = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (!err) this.dispatch(msg);
      },
    });
    void this.sub.closed.then(() => {
      this.closed = true;
      for (const p of [...this.pending.values()])
        p.settle({
          kind: "failed",
          message: `the executor's NATS connection closed during the call`,
          failure: "unreachable",
        });
    });
  }

  call(subject: string, body: string, headers: ReturnType<typeof natsHeaders>, limits: CallLimits) {
    const token = (this.seq++).toString(36);
    return new Promise<WorkerOutcome>((resolve) => {
      const defaultSilenceMs = limits.misses * DEFAULT_WORKER_HEARTBEAT_MS;
      let silenceMs = defaultSilenceMs;
      let busyTurns = 0;
      /** The last word on the call was "busy": nobody has started it. */
      let turnedDown = false;
      let resend: NodeJS.Timeout | undefined;
      const settle = (outcome: WorkerOutcome) => {
        if (!this.pending.delete(token)) return;
        clearTimeout(silence);
        clearTimeout(deadline);
        clearTimeout(resend);
        resolve(outcome);
      };
      const armSilence = () =>
        setTimeout(
          () =>
            settle({
              kind: "failed",
              message: `worker for app "${limits.appId}" stopped answering (no message for ${silenceMs} ms)`,
              failure: "timeout",
            }),
          silenceMs,
        ).unref();
      const send = () => {
        try {
          this.nc.publish(subject, body, { reply: `${this.prefix}.${token}`, headers });
        } catch (e) {
          settle({ kind: "failed", message: publishFailure(e, limits, this.nc), failure: "refused" });
        }
      };
      let silence = armSilence();
      const deadline = setTimeout(
        () =>
          settle({
            kind: "failed",
            message: turnedDown
              ? `no worker of app "${limits.appId}" was free within ${limits.timeoutMs} ms (each answered busy: at its maxInFlight)`
              : `app did not answer within ${limits.timeoutMs} ms (${limits.url})`,
            failure: "timeout",
          }),
        limits.timeoutMs,
      ).unref();
      this.pending.set(token, {
        limits,
        settle,
        alive: (heartbeatMs) => {
          turnedDown = false;
          const window = heartbeatMs === undefined ? silenceMs : limits.misses * heartbeatMs;
          if (window === silenceMs) {
            silence.refresh();
            return;
          }
          clearTimeout(silence);
          silenceMs = window;
          silence = armSilence();
        },
        busy: () => {
          // Nobody runs the call now: no silence to watch until it is sent again.
          clearTimeout(silence);
          turnedDown = true;
          const delayMs = Math.min(MAX_BUSY_BACKOFF_MS, 10 * 2 ** busyTurns++);
          resend = setTimeout(() => {
            if (!this.pending.has(token)) return;
            // The next worker may beat at another interval: start from the default window.
            silenceMs = defaultSilenceMs;
            silence = armSilence();
            send();
          }, delayMs);
          resend.unref();
        },
      });
      send();
    });
  }

  private dispatch(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length + 1);
    const p = this.pending.get(token);
    if (!p) return; // a late message for a call that already ended
    const h = msg.headers;
    const lookup = headerLookup(h);
    const status = Number(lookup(WorkerHeaders.status));
    if (!lookup(WorkerHeaders.status)) {
      if (h?.code === 503) {
        p.settle({
          kind: "failed",
          message: `no worker is serving app "${p.limits.appId}" (nothing subscribed to ${Subjects.workerCall(p.limits.appId)})`,
          failure: "unreachable",
        });
      } else {
        p.settle({
          kind: "failed",
          message: `worker for app "${p.limits.appId}" answered without a ${WorkerHeaders.status} header${h?.hasError ? ` (NATS status ${h.code} ${h.description})` : ""}`,
          failure: "bad_response",
        });
      }
      return;
    }
    if (status === WORKER_BUSY_STATUS) {
      p.busy();
      return;
    }
    if (status === WORKER_PROGRESS_STATUS) {
      const advertised = Number(lookup(WorkerHeaders.heartbeatMs));
      p.alive(
        Number.isFinite(advertised)
          ? Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, advertised))
          : undefined,
      );
      return;
    }
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      p.settle({
        kind: "failed",
        message: `worker for app "${p.limits.appId}" answered with an invalid ${WorkerHeaders.status} ${JSON.stringify(lookup(WorkerHeaders.status))}`,
        failure: "bad_response",
      });
      return;
    }
    p.settle({ kind: "answer", status, header: lookup, body: new TextDecoder().decode(msg.data) });
  }
}

function publishFailure(e: unknown, limits: CallLimits, nc: NatsConnection): string {
  if (e instanceof InvalidArgumentError && /max_payload/.test(e.message)) {
    const max = nc.info?.max_payload;
    return `call to app "${limits.appId}" is too large for NATS: over the server's max_payload${max ? ` of ${max} bytes` : ""} (raise max_payload, or keep step outputs and event data smaller)`;
  }
  return `could not send the call to app "${limits.appId}" over NATS: ${(e as Error).message}`;
}

function headerLookup(h: Iterable<[string, string[]]> | undefined): (name: string) => string | undefined {
  const byName = new Map<string, string>();
  for (const [k, values] of h ?? []) {
    if (!byName.has(k.toLowerCase()) && values[0] !== undefined) byName.set(k.toLowerCase(), values[0]);
  }
  return (name) => byName.get(name.toLowerCase());
}
