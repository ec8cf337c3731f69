/**
 * The matcher: one durable consumer on EVENTS (shared by every matcher process). For each event
 * it finds the triggered functions, derives each run's id deterministically from (event id,
 * function id) — so a redelivered event starts nothing twice — indexes event → runs, and sends a
 * start command to each run's partition INBOX (deduplicated by `start-<runId>`).
 */
import {
  Buckets,
  type CancelOn,
  callUrlOf,
  compileValueExpression,
  concurrencyKeys,
  concurrencySpecs,
  type EventRuns,
  Headers,
  type InboxCommand,
  InternalEvents,
  Keys,
  NATS_HEADER_ROOM,
  normalizeTraceparent,
  parseDuration,
  parseTraceparent,
  partitionOf,
  retriesOf,
  runIdFor,
  type StartRunCommand,
  type StoredEvent,
  StoredEventSchema,
  Subjects,
  type ThrottleSpec,
} from "@jetstep/core";
import {
  EventLog,
  InProgress,
  type JetstepBuckets,
  type JsMsg,
  kvPut,
  matcherConsumer,
  type Nats,
  PULL_EXPIRES_MS,
  Publisher,
  partitionCount,
  type RegisteredFunction,
  Registry,
  RunLog,
  settleFailure,
  ThrottleQueue,
} from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { Batcher, batchConfigOf } from "./batcher.ts";
import { Debouncer, debounceConfigOf } from "./debouncer.ts";
import { FlowControl } from "./flow.ts";
import { IdempotencyGate } from "./idempotency.ts";
import { TriggerIndex } from "./triggers.ts";
import { WaitIndex, type WaitMatch } from "./wait-index.ts";

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

/** Priorities are clamped to ±600 s. */
const MAX_PRIORITY_S = 600;

export function buildMatcher(deps: MatcherDeps): Matcher {
  const log = deps.log.child({ svc: "matcher" });
  const registry = new Registry(deps.buckets.functions, (message, err) =>
    log.warn({ err, bucket: "functions" }, message),
  );
  const publisher = new Publisher(deps.nats.nc);
  const triggers = new TriggerIndex((fnId, expression, error) =>
    log.warn({ fnId, expression, error }, "trigger expression failed to evaluate; treated as no match"),
  );
  const waits = new WaitIndex(
    deps.buckets.waits,
    new EventLog(deps.nats.jsm),
    (m) => resolveWait(m),
    (wait, message) => log.warn({ runId: wait.runId, fnId: wait.fnId, waitId: wait.waitId }, message),
    Date.now,
    (message, err) => log.warn({ err, bucket: "waits" }, message),
  );
  const debouncer = new Debouncer(
    deps.buckets.debounces,
    deps.nats,
    () => registry.functions(),
    async (f, runId, event, seq) => {
      await startRun(f, runId, [event], seq);
      // The event that closed the window now has a run: add it to the event's index.
      const key = Keys.eventRuns(event.id);
      const prev = await deps.buckets.eventRuns.get(key);
      const index: EventRuns & { ts: number; seq: number } =
        prev?.operation === "PUT"
          ? prev.json()
          : { eventId: event.id, name: event.name, ts: event.ts, seq, runs: [] };
      index.runs = [...index.runs.filter((r) => r.runId !== runId), { runId, fnId: f.fn.id }];
      index.skipped = index.skipped?.filter((x) => x.fnId !== f.fn.id);
      await deps.buckets.eventRuns.put(key, JSON.stringify(index));
    },
    (message, err) => log.warn({ err }, message),
    Date.now,
  );
  const flow = new FlowControl(
    deps.buckets.flow,
    new RunLog(deps.nats.jsm, publisher),
    deps.buckets.snapshots,
    publisher,
    (fnId, message) => log.warn({ fnId }, message),
    Date.now,
  );
  const idempotency = new IdempotencyGate(deps.buckets.idempotency, (fnId, message) =>
    log.warn({ fnId }, message),
  );
  const batcher = new Batcher(
    deps.buckets.batches,
    deps.nats,
    () => registry.functions(),
    (f, runId, events, seq) => startRun(f, runId, events, seq),
    (message, err) => log.warn({ err }, message),
    Date.now,
  );
  let messages: { close(): Promise<unknown> } | undefined;

  /** `priority.run` (CEL, seconds), clamped to ±600; a failing expression means 0 (logged once). */
  function priorityOf(f: RegisteredFunction, event: StoredEvent): { priority?: number } {
    const expr = (f.fn as { priority?: { run?: unknown } }).priority?.run;
    if (typeof expr !== "string") return {};
    const r = compileValueExpression(expr).evaluate({ event });
    const n = typeof r.value === "number" ? r.value : Number.NaN;
    if (r.error !== undefined || !Number.isFinite(n)) {
      warnOnce(
        `${f.fn.id}|priority`,
        { fnId: f.fn.id, expression: expr, error: r.error ?? "not a number" },
        "priority expression failed; using 0",
      );
      return {};
    }
    const clamped = Math.max(-MAX_PRIORITY_S, Math.min(MAX_PRIORITY_S, n));
    return clamped === 0 ? {} : { priority: clamped };
  }

  const warned = new Set<string>();
  function warnOnce(key: string, fields: Record<string, unknown>, message: string): void {
    if (warned.has(key)) return;
    warned.add(key);
    log.warn(fields, message);
  }

  /** Sends the start command of a run to its partition (deduplicated by run id). */
  async function startRun(
    f: RegisteredFunction,
    runId: string,
    events: StoredEvent[],
    eventSeq: number,
    throttle?: ThrottleSpec,
    traceparent?: string,
  ): Promise<void> {
    const event = events[0] as StoredEvent;
    const specs = concurrencySpecs((f.fn as { concurrency?: unknown }).concurrency);
    const concurrency = concurrencyKeys(f.fn.id, specs, event, (key, error) =>
      warnOnce(
        `${f.fn.id}|${key}`,
        { fnId: f.fn.id, key, error },
        "concurrency key failed on an event; the run uses the default bucket",
      ),
    );
    // Runs sharing a concurrency key live in one partition, whose owner enforces the limit. A
    // function-wide limit covers all of the function's runs, so it decides when present.
    const wide = specs.findIndex((x) => !x.key);
    const partition = partitionOf(concurrency[wide === -1 ? 0 : wide]?.key ?? runId, partitions);
    const cmd: StartRunCommand = {
      type: "start",
      runId,
      fnId: f.fn.id,
      appId: f.app.appId,
      url: callUrlOf(f.fn),
      maxAttempts: retriesOf(f.fn) + 1,
      event,
      events,
      eventSeq,
      ...(f.fn.timeouts ? { timeouts: f.fn.timeouts } : {}),
      ...((f.fn as { compensateOnCancel?: unknown }).compensateOnCancel === true
        ? { compensateOnCancel: true }
        : {}),
      ...(concurrency.length > 0 ? { concurrency } : {}),
      ...(throttle ? { throttle } : {}),
      ...priorityOf(f, event),
      ...cancelOnOf(f.fn.cancel, event.ts),
      ...(traceparent ? { traceparent } : {}),
    };
    // A throttled run joins its key's queue (in the place of its event) before it exists.
    if (throttle?.queued) await ThrottleQueue.enqueue(publisher, throttle.key, runId, eventSeq, Date.now());
    await publisher.publishJson(Subjects.inbox(partition), cmd, { msgId: `start-${runId}` });
  }

  /** An invoke of a function nobody registered: finish it at once with an error naming the id. */
  async function invokeTargetMissing(event: StoredEvent): Promise<void> {
    const meta = (event.data._inngest ?? {}) as { fn_id?: unknown; correlation_id?: unknown };
    if (typeof meta.correlation_id !== "string") return;
    const id = `${event.id}-missing`;
    const finished: StoredEvent = {
      id,
      name: InternalEvents.functionFinished,
      data: {
        function_id: meta.fn_id,
        correlation_id: meta.correlation_id,
        // As Inngest reports it (its SDK tests look for this name and wording).
        error: {
          name: "Error",
          message: `could not find function "${String(meta.fn_id)}": no function with this id is registered`,
        },
      },
      ts: event.ts,
    };
    await publisher.publishJson(Subjects.event(finished.name), finished, { msgId: id });
    log.warn({ fnId: meta.fn_id, correlationId: meta.correlation_id }, "invoke of an unknown function");
  }

  /** Sends the run's partition the match; the first one per wait wins (msg id dedupe + the actor). */
  async function resolveWait({ wait, event }: WaitMatch): Promise<void> {
    const cmd: InboxCommand =
      wait.kind === "cancel"
        ? { type: "cancel", runId: wait.runId, reason: `cancelled by event "${event.name}" (${event.id})` }
        : { type: "wait.match", runId: wait.runId, waitId: wait.waitId, event };
    const msgId = wait.kind === "cancel" ? `cancel-${wait.runId}` : `match-${wait.runId}-${wait.waitId}`;
    await publisher.publishJson(Subjects.inbox(wait.partition), cmd, { msgId });
    log.debug({ runId: wait.runId, waitId: wait.waitId, eventId: event.id }, "wait matched");
  }
  let loop: Promise<void> | undefined;
  let stopping = false;
  let partitions = deps.partitions;
  /** Events being handled (kept from redelivery while slow). */
  const inProgress = new InProgress();

  async function onEvent(m: JsMsg): Promise<void> {
    const parsed = StoredEventSchema.safeParse(safeJson(m));
    if (!parsed.success) {
      log.error({ seq: m.seq, subject: m.subject }, "dropping a malformed event from EVENTS");
      m.term();
      return;
    }
    const event: StoredEvent = parsed.data;
    // The sender's trace context (HTTP or NATS header): the runs it starts join that trace.
    const traceparent = normalizeTraceparent(m.headers?.get(Headers.traceparent));
    const matched = triggers.match(event, registry.functions());
    if (event.name === InternalEvents.functionInvoked && matched.length === 0)
      await invokeTargetMissing(event);
    const candidates = matched.map((f) => ({ runId: runIdFor(event.id, f.fn.id, event.ts), f }));
    const runs: ((typeof candidates)[number] & { batched?: boolean })[] = [];
    const skipped: { fnId: string; reason: string }[] = [];
    const throttled = new Map<string, ThrottleSpec>();
    for (const c of candidates) {
      const expression = typeof c.f.fn.idempotency === "string" ? c.f.fn.idempotency : undefined;
      if (expression && !(await idempotency.admit(c.f.fn.id, expression, event, c.runId))) {
        skipped.push({ fnId: c.f.fn.id, reason: "idempotency: a run with the same key started within 24 h" });
        continue;
      }
      const decision = await flow.decide(c.f, event, c.runId);
      if (!decision.start) {
        skipped.push({ fnId: c.f.fn.id, reason: decision.reason });
        continue;
      }
      if (decision.throttle) throttled.set(c.runId, decision.throttle);
      const debounce = debounceConfigOf(c.f);
      if (debounce) {
        await debouncer.add(c.f, debounce, event, m.seq);
        skipped.push({
          fnId: c.f.fn.id,
          reason: "debounce: waiting for the quiet period; a later event may take its place",
        });
        continue;
      }
      const batch = batchConfigOf(c.f);
      const batchRunId = batch ? await batcher.add(c.f, batch, event, m.seq) : undefined;
      runs.push(batchRunId ? { ...c, runId: batchRunId, batched: true } : c);
    }
    const index: EventRuns & { ts: number; seq: number } = {
      eventId: event.id,
      name: event.name,
      ts: event.ts,
      seq: m.seq,
      runs: runs.map((r) => ({ runId: r.runId, fnId: r.f.fn.id })),
      ...(skipped.length > 0 ? { skipped } : {}),
    };
    // Lifecycle events (inngest/function.finished, one per run) that start nothing are not indexed.
    // The index and the start commands are written together: each is idempotent, and the event is
    // redelivered (both written again) unless all landed.
    const indexed =
      runs.length > 0 || skipped.length > 0 || !event.name.startsWith("inngest/")
        ? kvPut(publisher, Buckets.eventRuns, Keys.eventRuns(event.id), JSON.stringify(index))
        : undefined;
    await Promise.all([
      indexed,
      ...runs
        .filter((r) => !r.batched)
        .map(({ runId, f }) => startRun(f, runId, [event], m.seq, throttled.get(runId), traceparent)),
    ]);
    await waits.match(event, m.seq);
    if (runs.length > 0)
      log.debug(
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

  return {
    async start() {
      partitions = await partitionCount(deps.buckets.leases, deps.partitions);
      await registry.watch();
      await waits.watch();
      await batcher.watch();
      await debouncer.watch();
      const consume = async () => {
        const consumer = await matcherConsumer(deps.nats.js, deps.nats.jsm);
        const iter = await consumer.consume({ max_messages: 512, expires: PULL_EXPIRES_MS });
        messages = iter;
        void (async () => {
          for await (const s of iter.status()) {
            if (s.type === "consumer_deleted" || s.type === "consumer_not_found") {
              log.warn({ status: s.type }, "EVENTS consumer is gone");
              await iter.close();
            }
          }
        })().catch(() => undefined);
        return iter;
      };
      let iter = await consume();
      loop = (async () => {
        // If the consumer stops by itself (deleted, or lost in a cluster outage), make it again:
        // otherwise no event would be matched any more.
        for (let attempt = 0; !stopping; ) {
          try {
            for await (const m of iter) {
              attempt = 0;
              inProgress.hold(m);
              void onEvent(m)
                .finally(() => inProgress.release(m))
                .catch(async (e) => {
                  // A poison event (one that fails the same way every time) is parked in
                  // DEAD_LETTERS after a few deliveries, so it never holds up the events behind it.
                  const limit = (deps.nats.nc.info?.max_payload ?? 1024 * 1024) - NATS_HEADER_ROOM;
                  const done = await settleFailure(publisher, "matcher", m, e, limit);
                  if ("deadLettered" in done)
                    log.error({ err: e, seq: m.seq }, "event handling keeps failing; stored in DEAD_LETTERS");
                  else
                    log.error({ err: e, seq: m.seq, ...done }, "event handling failed; will be redelivered");
                });
            }
          } catch (e) {
            log.error({ err: e }, "EVENTS consumer failed");
          }
          while (!stopping) {
            const delayMs = Math.min(10_000, 500 * 2 ** attempt++);
            log.warn({ retryInMs: delayMs }, "EVENTS consumer stopped; making it again");
            await new Promise((r) => setTimeout(r, delayMs));
            if (stopping) break;
            try {
              iter = await consume();
              break;
            } catch (e) {
              log.error({ err: e }, "could not make the EVENTS consumer again");
            }
          }
        }
      })();
      log.info({ partitions }, "matcher started");
    },
    async stop() {
      stopping = true;
      await messages?.close();
      await loop?.catch(() => undefined);
      registry.stop();
      waits.stop();
      batcher.stop();
      debouncer.stop();
      publisher.close();
    },
  };
}

function cancelOnOf(cancel: CancelOn[] | undefined, ts: number): Pick<StartRunCommand, "cancelOn"> {
  if (!cancel || cancel.length === 0) return {};
  return {
    cancelOn: cancel.map((c) => ({
      event: c.event,
      ...(c.if ? { if: c.if } : {}),
      ...(c.timeout !== undefined ? { until: ts + parseDuration(c.timeout) } : {}),
    })),
  };
}

function safeJson(m: JsMsg): unknown {
  try {
    return m.json();
  } catch {
    return undefined;
  }
}
