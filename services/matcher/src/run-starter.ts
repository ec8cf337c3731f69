/**
 * What the matcher sends to run partitions: start commands (deduplicated by `start-<runId>`), a
 * matched wait or a cancellation (the first per wait wins), and the answer to an invoke of a
 * function nobody registered.
 */
import { type InboxCommand, InternalEvents, type StoredEvent, Subjects } from "@jetstep/core";
import {
  type EventRunsRecord,
  type EventRunsStore,
  type Publisher,
  type RegisteredFunction,
  ThrottleQueue,
} from "@jetstep/jetstream";
import type { MatcherLog } from "./matcher-log.ts";
import { type StartOptions, startCommand } from "./start-command.ts";
import type { WaitMatch } from "./wait-index.ts";

export interface RunStarterDeps {
  publisher: Publisher;
  log: MatcherLog;
  now: () => number;
  /** EVENT_RUNS: which runs each event started. */
  eventRuns: EventRunsStore;
  /** The partition count (known once the matcher started). */
  partitions(): number;
}

export class RunStarter {
  constructor(private readonly deps: RunStarterDeps) {}

  /** Sends the start command of a run to its partition (deduplicated by run id). */
  async start(
    f: RegisteredFunction,
    runId: string,
    events: StoredEvent[],
    eventSeq: number,
    opts: StartOptions = {},
  ): Promise<void> {
    const { publisher, log } = this.deps;
    const { partition, cmd } = startCommand(f, runId, events, eventSeq, this.deps.partitions(), log, opts);
    // A throttled run joins its key's queue (in the place of its event) before it exists.
    const throttle = opts.throttle;
    if (throttle?.queued)
      await ThrottleQueue.enqueue(publisher, throttle.key, runId, eventSeq, this.deps.now());
    await publisher.publishJson(Subjects.inbox(partition), cmd, { msgId: `start-${runId}` });
  }

  /** Starts the run a debounce window ended with, and adds it to its event's index. */
  async startDebounced(f: RegisteredFunction, runId: string, event: StoredEvent, seq: number): Promise<void> {
    await this.start(f, runId, [event], seq);
    const store = this.deps.eventRuns;
    const index: EventRunsRecord = (await store.get(event.id)) ?? {
      eventId: event.id,
      name: event.name,
      ts: event.ts,
      seq,
      runs: [],
    };
    index.runs = [...index.runs.filter((r) => r.runId !== runId), { runId, fnId: f.fn.id }];
    index.skipped = index.skipped?.filter((x) => x.fnId !== f.fn.id);
    await store.put(index);
  }

  /** An invoke of a function nobody registered: finish it at once with an error naming the id. */
  async invokeTargetMissing(event: StoredEvent): Promise<void> {
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
    await this.deps.publisher.publishJson(Subjects.event(finished.name), finished, { msgId: id });
    this.deps.log.warn(
      { fnId: meta.fn_id, correlationId: meta.correlation_id },
      "invoke of an unknown function",
    );
  }

  /** Sends the run's partition the match; the first one per wait wins (msg id dedupe + the actor). */
  async resolveWait({ wait, event }: WaitMatch): Promise<void> {
    const cmd: InboxCommand =
      wait.kind === "cancel"
        ? { type: "cancel", runId: wait.runId, reason: `cancelled by event "${event.name}" (${event.id})` }
        : { type: "wait.match", runId: wait.runId, waitId: wait.waitId, event };
    const msgId = wait.kind === "cancel" ? `cancel-${wait.runId}` : `match-${wait.runId}-${wait.waitId}`;
    await this.deps.publisher.publishJson(Subjects.inbox(wait.partition), cmd, { msgId });
    this.deps.log.log.debug({ runId: wait.runId, waitId: wait.waitId, eventId: event.id }, "wait matched");
  }
}
