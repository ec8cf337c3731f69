/**
 * What one event does: for each function it triggers, the run's id is derived from (event id,
 * function id), so a redelivered event starts nothing twice; idempotency, rate limit, throttle,
 * debounce and batching decide whether and how that run starts; the event → runs index and the
 * start commands are written together; then the event is offered to the open waits.
 */
import {
  type EventRuns,
  Headers,
  InternalEvents,
  normalizeTraceparent,
  parseTraceparent,
  runIdFor,
  type StoredEvent,
  StoredEventSchema,
  type ThrottleSpec,
} from "@jetstep/core";
import type { Delivery, RegisteredFunction, Registry } from "@jetstep/jetstream";
import type { Batcher } from "./batcher.ts";
import type { Debouncer } from "./debouncer.ts";
import type { FlowControl } from "./flow.ts";
import type { IdempotencyGate } from "./idempotency.ts";
import type { MatcherLog } from "./matcher-log.ts";
import type { RunStarter } from "./run-starter.ts";
import type { TriggerIndex } from "./triggers.ts";
import type { WaitIndex } from "./wait-index.ts";

/** An EVENT_RUNS record: the runs an event started and the functions it skipped. */
export type EventIndex = EventRuns & { ts: number; seq: number };

export interface EventMatchingDeps {
  log: MatcherLog;
  /** Writes an event's EVENT_RUNS record. */
  index(record: EventIndex): Promise<void>;
  registry: Pick<Registry, "functions">;
  triggers: Pick<TriggerIndex, "match">;
  idempotency: Pick<IdempotencyGate, "admit">;
  flow: Pick<FlowControl, "decide">;
  debouncer: Pick<Debouncer, "add">;
  batcher: Pick<Batcher, "add">;
  waits: Pick<WaitIndex, "match">;
  starter: Pick<RunStarter, "start" | "invokeTargetMissing">;
}

interface Admitted {
  runId: string;
  f: RegisteredFunction;
  /** Joined a batch: started by the batcher when the batch is full or due. */
  batched?: boolean;
  throttle?: ThrottleSpec;
}

interface Skipped {
  fnId: string;
  reason: string;
}

export class EventMatching {
  constructor(private readonly deps: EventMatchingDeps) {}

  /** Handles one EVENTS message; acks it once everything it implies is written. */
  async onEvent(m: Delivery): Promise<void> {
    const { log, starter } = this.deps;
    const parsed = StoredEventSchema.safeParse(safeJson(m));
    if (!parsed.success) {
      log.log.error({ seq: m.seq, subject: m.subject }, "dropping a malformed event from EVENTS");
      m.term();
      return;
    }
    const event: StoredEvent = parsed.data;
    // The sender's trace context (HTTP or NATS header): the runs it starts join that trace.
    const traceparent = normalizeTraceparent(m.headers?.get(Headers.traceparent));
    const matched = this.deps.triggers.match(event, this.deps.registry.functions());
    if (event.name === InternalEvents.functionInvoked && matched.length === 0)
      await starter.invokeTargetMissing(event);
    const { runs, skipped } = await this.admit(matched, event, m.seq);
    // The index and the start commands are written together: each is idempotent, and the event is
    // redelivered (both written again) unless all landed.
    await Promise.all([
      this.index(event, m.seq, runs, skipped),
      ...runs
        .filter((r) => !r.batched)
        .map(({ runId, f, throttle }) =>
          starter.start(f, runId, [event], m.seq, {
            ...(throttle ? { throttle } : {}),
            ...(traceparent ? { traceparent } : {}),
          }),
        ),
    ]);
    await this.deps.waits.match(event, m.seq);
    if (runs.length > 0)
      log.log.debug(
        {
          eventId: event.id,
          name: event.name,
          runs: runs.length,
          ...(traceparent ? { traceId: parseTraceparent(traceparent)?.traceId } : {}),
        },
        "event matched",
      );
    m.ack();
  }

  /** Which of the triggered functions' runs start (or join a batch), and why the others do not. */
  private async admit(
    matched: RegisteredFunction[],
    event: StoredEvent,
    seq: number,
  ): Promise<{ runs: Admitted[]; skipped: Skipped[] }> {
    const { idempotency, flow, debouncer, batcher } = this.deps;
    const runs: Admitted[] = [];
    const skipped: Skipped[] = [];
    for (const f of matched) {
      const fnId = f.fn.id;
      const runId = runIdFor(event.id, fnId, event.ts);
      const { idempotency: key, debounce, batch } = f.spec;
      if (key && !(await idempotency.admit(fnId, key, event, runId))) {
        skipped.push({ fnId, reason: "idempotency: a run with the same key started within 24 h" });
        continue;
      }
      const decision = await flow.decide(f, event, runId);
      if (!decision.start) {
        skipped.push({ fnId, reason: decision.reason });
        continue;
      }
      if (debounce) {
        await debouncer.add(f, debounce, event, seq);
        skipped.push({
          fnId,
          reason: "debounce: waiting for the quiet period; a later event may take its place",
        });
        continue;
      }
      const batchRunId = batch ? await batcher.add(f, batch, event, seq) : undefined;
      const throttle = decision.throttle ? { throttle: decision.throttle } : {};
      runs.push(
        batchRunId ? { f, runId: batchRunId, batched: true, ...throttle } : { f, runId, ...throttle },
      );
    }
    return { runs, skipped };
  }

  /**
   * Writes which runs the event started and which functions it skipped (EVENT_RUNS). Lifecycle
   * events (`inngest/function.finished`, one per run) that start nothing are not indexed.
   */
  private async index(event: StoredEvent, seq: number, runs: Admitted[], skipped: Skipped[]): Promise<void> {
    if (runs.length === 0 && skipped.length === 0 && event.name.startsWith("inngest/")) return;
    await this.deps.index({
      eventId: event.id,
      name: event.name,
      ts: event.ts,
      seq,
      runs: runs.map((r) => ({ runId: r.runId, fnId: r.f.fn.id })),
      ...(skipped.length > 0 ? { skipped } : {}),
    });
  }
}

function safeJson(m: Delivery): unknown {
  try {
    return m.json();
  } catch {
    return undefined;
  }
}
