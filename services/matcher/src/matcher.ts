/**
 * The matcher: one durable consumer on EVENTS (shared by every matcher process). For each event
 * it finds the triggered functions, derives each run's id deterministically from (event id,
 * function id) — so a redelivered event starts nothing twice — indexes event → runs, and sends a
 * start command to each run's partition INBOX (deduplicated by `start-<runId>`).
 */
import {
  callUrlOf,
  type EventRuns,
  Keys,
  partitionOf,
  retriesOf,
  runIdFor,
  type StartRunCommand,
  type StoredEvent,
  StoredEventSchema,
  Subjects,
} from "@jetstep/core";
import {
  type JetstepBuckets,
  type JsMsg,
  matcherConsumer,
  type Nats,
  Publisher,
  partitionCount,
  Registry,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { TriggerIndex } from "./triggers.ts";

export interface MatcherDeps {
  nats: Nats;
  buckets: JetstepBuckets;
  log: Logger;
  partitions: number;
}

export interface Matcher {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function buildMatcher(deps: MatcherDeps): Matcher {
  const log = deps.log.child({ svc: "matcher" });
  const registry = new Registry(deps.buckets.functions);
  const publisher = new Publisher(deps.nats.nc);
  const triggers = new TriggerIndex((fnId, expression, error) =>
    log.warn({ fnId, expression, error }, "trigger expression failed to evaluate; treated as no match"),
  );
  let messages: { close(): Promise<unknown> } | undefined;
  let loop: Promise<void> | undefined;
  let partitions = deps.partitions;

  async function onEvent(m: JsMsg): Promise<void> {
    const parsed = StoredEventSchema.safeParse(safeJson(m));
    if (!parsed.success) {
      log.error({ seq: m.seq, subject: m.subject }, "dropping a malformed event from EVENTS");
      m.term();
      return;
    }
    const event: StoredEvent = parsed.data;
    const matched = triggers.match(event, registry.functions());
    const runs = matched.map((f) => ({ runId: runIdFor(event.id, f.fn.id, event.ts), f }));
    const index: EventRuns & { ts: number; seq: number } = {
      eventId: event.id,
      name: event.name,
      ts: event.ts,
      seq: m.seq,
      runs: runs.map((r) => ({ runId: r.runId, fnId: r.f.fn.id })),
    };
    await deps.buckets.eventRuns.put(Keys.eventRuns(event.id), JSON.stringify(index));
    await Promise.all(
      runs.map(({ runId, f }) => {
        const cmd: StartRunCommand = {
          type: "start",
          runId,
          fnId: f.fn.id,
          appId: f.app.appId,
          url: callUrlOf(f.fn),
          maxAttempts: retriesOf(f.fn) + 1,
          event,
          events: [event],
        };
        return publisher.publishJson(Subjects.inbox(partitionOf(runId, partitions)), cmd, {
          msgId: `start-${runId}`,
        });
      }),
    );
    if (runs.length > 0)
      log.debug({ eventId: event.id, name: event.name, runs: runs.length }, "event matched");
    m.ack();
  }

  return {
    async start() {
      partitions = await partitionCount(deps.buckets.leases, deps.partitions);
      await registry.watch();
      const consumer = await matcherConsumer(deps.nats.js, deps.nats.jsm);
      const iter = await consumer.consume({ max_messages: 512 });
      messages = iter;
      loop = (async () => {
        for await (const m of iter) {
          void onEvent(m).catch((e) => {
            log.error({ err: e, seq: m.seq }, "event handling failed; will be redelivered");
            m.nak(1000);
          });
        }
      })();
      log.info({ partitions }, "matcher started");
    },
    async stop() {
      await messages?.close();
      await loop?.catch(() => undefined);
      registry.stop();
      publisher.close();
    },
  };
}

function safeJson(m: JsMsg): unknown {
  try {
    return m.json();
  } catch {
    return undefined;
  }
}
