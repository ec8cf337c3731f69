/** Durable pull consumers: the matcher's on EVENTS, and one per partition on INBOX. */
import { Consumers, Streams, Subjects } from "@jetstep/core";
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import type { Nats } from "./connection.ts";
import type { Delivery } from "./delivery.ts";

/**
 * How long each pull of the durable consumers lasts. nats.js re-pulls after two missed idle
 * heartbeats (expires / 2 each), so a pull the server dropped — as when the consumer's leader moves
 * after a cluster node is lost — is noticed within this long (nats.js's default, 30 s, left
 * partitions unconsumed for 30–40 s in the cluster test). The price is one pull request per
 * consumer every 5 s while idle.
 */
export const PULL_EXPIRES_MS = 5_000;

/**
 * How long a delivered message stays with its consumer before the server delivers it again: how
 * soon the commands (or events) a SIGKILLed process held go to the next one. Handling that takes
 * longer (an append retried through an outage) is kept from redelivery by `InProgress`.
 */
export const ACK_WAIT_MS = 10_000;

async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  filter: string | undefined,
  ackWaitMs: number,
): Promise<void> {
  try {
    const info = await jsm.consumers.info(stream, name);
    // A consumer made by an older version keeps its settings until they are updated here. If the
    // update fails now (a leader election), the old ack wait only slows redelivery; the next load
    // of the consumer tries again.
    if (info.config.ack_wait !== ackWaitMs * 1_000_000)
      await jsm.consumers.update(stream, name, { ack_wait: ackWaitMs * 1_000_000 }).catch(() => undefined);
  } catch (e) {
    // Create only a consumer that does not exist. Anything else (a timeout while the consumer
    // elects a leader after a node died) is for the caller to retry: an `add` then would only
    // load the meta leader with updates that time out too.
    if (!(e instanceof JetStreamApiError && e.code === JetStreamApiCodes.ConsumerNotFound)) throw e;
    await jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: ackWaitMs * 1_000_000,
      max_deliver: -1,
      max_ack_pending: 10_000,
      ...(filter ? { filter_subject: filter } : {}),
    });
  }
}

export async function matcherConsumer(js: JetStreamClient, jsm: JetStreamManager): Promise<Consumer> {
  await ensureConsumer(jsm, Streams.events, Consumers.matcher, undefined, ACK_WAIT_MS);
  return js.consumers.get(Streams.events, Consumers.matcher);
}

export async function inboxConsumer(
  js: JetStreamClient,
  jsm: JetStreamManager,
  partition: number,
): Promise<Consumer> {
  const name = Consumers.inbox(partition);
  await ensureConsumer(jsm, Streams.inbox, name, Subjects.inbox(partition), ACK_WAIT_MS);
  return js.consumers.get(Streams.inbox, name);
}

/** What a partition's INBOX consumer holds: commands not yet delivered, and pulls waiting. */
export async function inboxConsumerState(
  jsm: JetStreamManager,
  partition: number,
): Promise<{ pending: number; waiting: number; ackPending: number; delivered: number; acked: number }> {
  const ci = await jsm.consumers.info(Streams.inbox, Consumers.inbox(partition));
  return {
    pending: ci.num_pending,
    waiting: ci.num_waiting,
    ackPending: ci.num_ack_pending,
    delivered: ci.delivered.consumer_seq,
    acked: ci.ack_floor.consumer_seq,
  };
}

/** A durable consumer's lag: messages not delivered yet, and delivered ones not acked yet. */
export interface ConsumerLag {
  stream: string;
  consumer: string;
  pending: number;
  ackPending: number;
}

/**
 * The lag of every durable consumer Jetstep reads with (the matcher's on EVENTS, each partition's
 * on INBOX), one consumer listing per stream.
 */
export async function durableConsumerLags(jsm: JetStreamManager): Promise<ConsumerLag[]> {
  const out: ConsumerLag[] = [];
  for (const stream of [Streams.events, Streams.inbox]) {
    for await (const ci of jsm.consumers.list(stream)) {
      if (!ci.config.durable_name) continue;
      out.push({ stream, consumer: ci.name, pending: ci.num_pending, ackPending: ci.num_ack_pending });
    }
  }
  return out;
}

/**
 * Messages being handled: any held for more than a third of the ack wait is reported as still in
 * progress (`working()`) every third, so a slow handling is not delivered again meanwhile. One
 * timer for all of them, running only while something is held.
 */
export class InProgress {
  private readonly held = new Map<Delivery, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ackWaitMs = ACK_WAIT_MS,
    private readonly now: () => number = Date.now,
  ) {}

  hold(m: Delivery): void {
    this.held.set(m, this.now());
    this.timer ??= setInterval(() => this.tick(), this.ackWaitMs / 3).unref();
  }

  release(m: Delivery): void {
    this.held.delete(m);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.held.size;
  }

  /** Reports what has been held a third of the ack wait or more (exposed for tests). */
  tick(): void {
    const before = this.now() - this.ackWaitMs / 3;
    for (const [m, since] of this.held) if (since <= before) m.working();
  }
}

/** The EVENTS sequence up to which the matchers have acked every event (their consumer's ack floor). */
export async function matcherAckFloor(nats: Nats): Promise<number> {
  const info = await nats.jsm.consumers.info(Streams.events, Consumers.matcher);
  return info.ack_floor.stream_seq;
}
