/**
 * The REALTIME stream: what durable endpoints stream to their callers (server-sent-event frames),
 * one subject per run. A resumed endpoint posts its frames here; the caller, redirected, reads
 * them from the channel's start (so one that connects late misses nothing), as they come.
 */
import { Streams, Subjects } from "@jetstep/core";
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import { withTimeout } from "./idle-timeout.ts";
import type { Publisher } from "./publisher.ts";

/** What a read of a channel yields: a frame, or `idle` after `idleMs` without one. */
export type ChannelRead = { frame: string } | { idle: true };

export class RealtimeChannels {
  constructor(
    private readonly js: JetStreamClient,
    private readonly publisher: Publisher,
  ) {}

  /** Appends one frame (or a piece of the stream) to run `runId`'s channel. */
  async append(runId: string, frame: string): Promise<void> {
    await this.publisher.publishJson(Subjects.realtime(runId), frame);
  }

  /**
   * The channel's frames from its start, in order, and then as they come; `{idle}` whenever
   * `idleMs` pass without one, so the reader can decide to stop. Stops when `signal` aborts.
   */
  async *read(runId: string, idleMs: number, signal: AbortSignal): AsyncGenerator<ChannelRead> {
    const consumer = await withTimeout(
      this.js.consumers.get(Streams.realtime, {
        filter_subjects: Subjects.realtime(runId),
        deliver_policy: DeliverPolicy.All,
      }),
      10_000,
      `reading the stream of run ${runId}`,
    );
    const messages = await consumer.consume();
    const stop = () => void messages.close().catch(() => undefined);
    signal.addEventListener("abort", stop, { once: true });
    const it = messages[Symbol.asyncIterator]();
    let next = it.next();
    try {
      while (!signal.aborted) {
        let timer: NodeJS.Timeout | undefined;
        const idle = new Promise<"idle">((resolve) => {
          timer = setTimeout(() => resolve("idle"), idleMs);
        });
        const got = await Promise.race([next, idle]);
        clearTimeout(timer);
        if (got === "idle") {
          yield { idle: true };
          continue;
        }
        if (got.done) return;
        next = it.next();
        yield { frame: got.value.json<string>() };
      }
    } finally {
      signal.removeEventListener("abort", stop);
      stop();
    }
  }
}
