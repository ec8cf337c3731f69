/**
 * Pipelined JetStream publisher. Each publish is a plain core publish whose reply subject is
 * `<inbox>.<n>` under one wildcard subscription, so many publishes issued in one tick leave in one
 * socket write and acks are matched by number (measured on the 2-vCPU machine: 115–145k msg/s vs ~35k
 * for `js.publish`). Expected outcomes are values, not throws: a `wrong last sequence` is a conflict
 * result, a duplicate is flagged. Timeouts reject; the caller may retry with the same msg id, which
 * the stream deduplicates.
 *
 * At most `maxInFlight` publishes await their acks; later ones wait here, in order, and their ack
 * timeout starts when they are sent. A burst of tens of thousands (a fan-out's timers, waits and
 * events) used to go out at once: the server, writing a few thousand fsynced messages a second,
 * could not ack the tail within the timeout, so the burst failed and was retried as a whole, and
 * everything else on the connection (lease renewals) queued behind it in the socket.
 */
import { Headers as HeaderNames } from "@jetstep/core";
import {
  createInbox,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

export type PublishResult =
  | { ok: true; stream: string; seq: number; duplicate: boolean }
  | {
      ok: false;
      conflict: boolean;
      code: number;
      errCode: number;
      description: string;
      /** On a conflict, the subject's actual last sequence, as the server reports it. */
      lastSeq?: number;
    };

export interface PublishOptions {
  msgId?: string;
  /** For `Nats-Expected-Last-Subject-Sequence`; 0 means "the subject must be empty". */
  expectedLastSubjectSeq?: number;
  headers?: Record<string, string>;
}

export class PublishTimeoutError extends Error {
  override name = "PublishTimeoutError";
}

interface Pending {
  resolve(r: PublishResult): void;
  reject(e: Error): void;
  at: number;
  subject: string;
}

interface Queued {
  /** When it was queued (publishes held while disconnected fail after the ack timeout). */
  at: number;
  subject: string;
  data: Uint8Array | string;
  opts: PublishOptions;
  resolve(r: PublishResult): void;
  reject(e: Error): void;
}

const SWEEP_MS = 500;

/** Publishes awaiting their acks at most, per publisher. */
export const DEFAULT_MAX_IN_FLIGHT = 1024;

const WRONG_LAST_SEQUENCE = 10071;

export class Publisher {
  private readonly prefix = createInbox();
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private closed = false;
  /** False from a disconnect to the reconnect: publishes wait in the queue meanwhile. */
  private up = true;
  /** Resolved by the next reconnect (or close); set while disconnected. */
  private back: { promise: Promise<void>; resolve(): void } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 10_000,
    private readonly maxInFlight = DEFAULT_MAX_IN_FLIGHT,
  ) {
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.onAck(msg) });
    this.sweep = setInterval(() => this.expire(), SWEEP_MS);
    this.sweep.unref();
    void this.watchConnection();
  }

  /**
   * Across a lost connection. Publishes sent before it dropped fail as soon as it drops, rather
   * than after the ack timeout: their acks went with the old connection (a nats-server killed before
   * it answered, say), and every caller retries a timeout, with the same msg id where duplicates
   * matter. After a nats-server restart, runs waited the full 10 s for those acks. Publishes made
   * while disconnected wait in the queue and go out on the new connection: nats.js would write them
   * to a buffer it discards when it reconnects (measured on 3.4: never stored, failed at the timeout).
   */
  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === "disconnect") {
        this.up = false;
        if (!this.back) {
          let resolve = () => {};
          const promise = new Promise<void>((r) => {
            resolve = r;
          });
          this.back = { promise, resolve };
        }
        const lost = [...this.pending.values()];
        this.pending.clear();
        for (const p of lost)
          p.reject(
            new PublishTimeoutError(
              `no ack for publish to ${p.subject}: the connection was lost before it came`,
            ),
          );
      } else if (s.type === "reconnect") {
        this.up = true;
        this.back?.resolve();
        this.back = undefined;
        if (this.queueHead < this.queue.length) this.drain();
      }
    }
  }

  publish(subject: string, data: Uint8Array | string, opts: PublishOptions = {}): Promise<PublishResult> {
    return new Promise<PublishResult>((resolve, reject) => {
      if (this.closed) {
        reject(new Error("publisher closed"));
        return;
      }
      if (this.up && this.pending.size < this.maxInFlight && this.queueHead === this.queue.length) {
        this.send(subject, data, opts, resolve, reject);
      } else {
        this.queue.push({ at: Date.now(), subject, data, opts, resolve, reject });
      }
    });
  }

  /**
   * Resolves once the connection is up (at once when it is). For what nats.js would otherwise write
   * into a buffer it discards on reconnecting: a message's ack or nak (a nak lost so left the
   * message to wait out its ack wait, 10 s, before it was delivered again).
   */
  whenConnected(): Promise<void> {
    return this.back?.promise ?? Promise.resolve();
  }

  /** Publishes waiting for a free slot (not yet sent). */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  private send(
    subject: string,
    data: Uint8Array | string,
    opts: PublishOptions,
    resolve: (r: PublishResult) => void,
    reject: (e: Error) => void,
  ): void {
    const id = this.next++;
    const h = headers();
    if (opts.msgId !== undefined) h.set(HeaderNames.msgId, opts.msgId);
    if (opts.expectedLastSubjectSeq !== undefined) {
      h.set(HeaderNames.expectedLastSubjectSeq, String(opts.expectedLastSubjectSeq));
    }
    for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
    this.pending.set(id, { resolve, reject, at: Date.now(), subject });
    try {
      this.nc.publish(subject, data, { reply: `${this.prefix}.${id}`, headers: h });
    } catch (e) {
      this.pending.delete(id);
      reject(e as Error);
    }
  }

  /** Sends queued publishes while slots are free. */
  private drain(): void {
    if (!this.up) return;
    while (this.pending.size < this.maxInFlight && this.queueHead < this.queue.length) {
      const q = this.queue[this.queueHead] as Queued;
      this.queue[this.queueHead++] = undefined as unknown as Queued;
      this.send(q.subject, q.data, q.opts, q.resolve, q.reject);
    }
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Publishes JSON and throws on any non-ok result (for paths where a conflict is a bug). */
  async publishJson(subject: string, value: unknown, opts: PublishOptions = {}): Promise<number> {
    const r = await this.publish(subject, JSON.stringify(value), opts);
    if (!r.ok) throw new Error(`publish to ${subject} failed: ${r.description} (${r.errCode})`);
    return r.seq;
  }

  private onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.prefix.length + 1));
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.queueHead < this.queue.length) this.drain();
    if (msg.headers && msg.headers.code >= 300) {
      p.resolve({
        ok: false,
        conflict: false,
        code: msg.headers.code,
        errCode: 0,
        description: `${msg.headers.code} ${msg.headers.description || "no responders (is the stream for "}${msg.headers.code === 503 ? `${p.subject} created?)` : ""}`,
      });
      return;
    }
    try {
      const ack = JSON.parse(new TextDecoder().decode(msg.data)) as {
        stream?: string;
        seq?: number;
        duplicate?: boolean;
        error?: { code: number; err_code?: number; description: string };
      };
      if (ack.error) {
        const errCode = ack.error.err_code ?? 0;
        const conflict = errCode === WRONG_LAST_SEQUENCE;
        // The server says which sequence it has ("wrong last sequence: 41"); no field carries it.
        const last = conflict ? /(\d+)\s*$/.exec(ack.error.description) : null;
        p.resolve({
          ok: false,
          conflict,
          code: ack.error.code,
          errCode,
          description: ack.error.description,
          ...(last ? { lastSeq: Number(last[1]) } : {}),
        });
      } else {
        p.resolve({
          ok: true,
          stream: ack.stream ?? "",
          seq: ack.seq ?? 0,
          duplicate: ack.duplicate === true,
        });
      }
    } catch (e) {
      p.reject(new Error(`unreadable publish ack for ${p.subject}: ${(e as Error).message}`));
    }
  }

  private lastSweep = Date.now();

  private expire(): void {
    // Time this process was too busy to run the sweep (and so to read acks already in its socket)
    // does not count against a publish: under a burst the event loop lagged by seconds and acks
    // that had arrived were expired unread, and retried, adding to the load.
    const now = Date.now();
    const lag = now - this.lastSweep - SWEEP_MS;
    this.lastSweep = now;
    if (lag > SWEEP_MS) for (const p of this.pending.values()) p.at += lag;
    const limit = now - this.timeoutMs;
    for (const [id, p] of this.pending) {
      if (p.at > limit) break; // insertion order = time order
      this.pending.delete(id);
      p.reject(new PublishTimeoutError(`no ack for publish to ${p.subject} within ${this.timeoutMs} ms`));
    }
    if (!this.up) this.expireHeld(limit);
    if (this.queueHead < this.queue.length) this.drain();
  }

  /** Publishes held while disconnected for longer than the ack timeout fail as timed out. */
  private expireHeld(limit: number): void {
    while (this.queueHead < this.queue.length) {
      const q = this.queue[this.queueHead] as Queued;
      if (q.at > limit) break; // queue order = time order
      this.queue[this.queueHead++] = undefined as unknown as Queued;
      q.reject(
        new PublishTimeoutError(
          `publish to ${q.subject} not sent within ${this.timeoutMs} ms: NATS is unreachable`,
        ),
      );
    }
  }

  close(): void {
    this.closed = true;
    this.back?.resolve();
    clearInterval(this.sweep);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new Error("publisher closed"));
    this.pending.clear();
    for (let i = this.queueHead; i < this.queue.length; i++)
      this.queue[i]?.reject(new Error("publisher closed"));
    this.queue.length = 0;
    this.queueHead = 0;
  }
}
