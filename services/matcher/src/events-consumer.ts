/**
 * The matcher's durable consumer on EVENTS (shared by every matcher process). Each event is kept
 * from redelivery while it is handled; one whose handling keeps failing is parked in
 * DEAD_LETTERS. If the consumer stops by itself (deleted, or lost in a cluster outage) it is made
 * again, with backoff: otherwise no event would be matched any more.
 */
import { NATS_HEADER_ROOM } from "@jetstep/core";
import {
  type Delivery,
  InProgress,
  matcherConsumer,
  maxPayload,
  type Nats,
  PULL_EXPIRES_MS,
  type Publisher,
  settleFailure,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";

export interface EventsConsumerDeps {
  nats: Nats;
  publisher: Publisher;
  log: Logger;
  handle(m: Delivery): Promise<void>;
}

type Messages = AsyncIterable<Delivery> & { close(): Promise<unknown> };

export class EventsConsumer {
  private messages: { close(): Promise<unknown> } | undefined;
  private loop: Promise<void> | undefined;
  private stopping = false;
  /** Events being handled (kept from redelivery while slow). */
  private readonly inProgress = new InProgress();

  constructor(private readonly deps: EventsConsumerDeps) {}

  async start(): Promise<void> {
    const first = await this.consume();
    this.loop = this.run(first);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close();
    await this.loop?.catch(() => undefined);
  }

  private async consume(): Promise<Messages> {
    const { nats, log } = this.deps;
    const consumer = await matcherConsumer(nats.js, nats.jsm);
    const iter = await consumer.consume({ max_messages: 512, expires: PULL_EXPIRES_MS });
    this.messages = iter;
    void (async () => {
      for await (const s of iter.status()) {
        if (s.type === "consumer_deleted" || s.type === "consumer_not_found") {
          log.warn({ status: s.type }, "EVENTS consumer is gone");
          await iter.close();
        }
      }
    })().catch(() => undefined);
    return iter;
  }

  private async run(first: Messages): Promise<void> {
    const log = this.deps.log;
    let iter = first;
    for (let attempt = 0; !this.stopping; ) {
      try {
        for await (const m of iter) {
          attempt = 0;
          this.dispatch(m);
        }
      } catch (e) {
        log.error({ err: e }, "EVENTS consumer failed");
      }
      while (!this.stopping) {
        const delayMs = Math.min(10_000, 500 * 2 ** attempt++);
        log.warn({ retryInMs: delayMs }, "EVENTS consumer stopped; making it again");
        await new Promise((r) => setTimeout(r, delayMs));
        if (this.stopping) break;
        try {
          iter = await this.consume();
          break;
        } catch (e) {
          log.error({ err: e }, "could not make the EVENTS consumer again");
        }
      }
    }
  }

  private dispatch(m: Delivery): void {
    const { log, publisher, nats } = this.deps;
    this.inProgress.hold(m);
    void this.deps
      .handle(m)
      .finally(() => this.inProgress.release(m))
      .catch(async (e) => {
        // A poison event (one that fails the same way every time) is parked in DEAD_LETTERS
        // after a few deliveries, so it never holds up the events behind it.
        const limit = maxPayload(nats) - NATS_HEADER_ROOM;
        const done = await settleFailure(publisher, "matcher", m, e, limit);
        if ("deadLettered" in done)
          log.error({ err: e, seq: m.seq }, "event handling keeps failing; stored in DEAD_LETTERS");
        else log.error({ err: e, seq: m.seq, ...done }, "event handling failed; will be redelivered");
      });
  }
}
