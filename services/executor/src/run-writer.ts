/**
 * Appends to a run's log: the one writer of each run. Entries are numbered after the run's last,
 * applied to its state (what the state rejects is dropped and logged), and appended with the log's
 * expected last sequence, so a second writer conflicts instead of interleaving. A conflict or a
 * refusal drops the actor, to be read again from the log.
 */
import {
  applyEntries,
  applyEntry,
  inBatch,
  isActive,
  type NewRunLogEntry,
  type RunLogEntry,
  statusOf,
} from "@jetstep/core";
import { maxPayload, type Nats, type PublishResult, type RunLog } from "@jetstep/jetstream";
import type { Logger, RunMetrics } from "@jetstep/telemetry";
import { AppendConflictError, AppendFailedError } from "./append-errors.ts";
import { chunkEntries, fitEntry, HEADER_ROOM } from "./log-chunks.ts";
import { countLanded } from "./run-metrics.ts";
import { recordParkedStep, recordRun } from "./run-spans.ts";
import type { Actor, RunStore } from "./run-store.ts";

/** How long an append that RUNS refuses for now (no leader) is retried before the run is reloaded. */
const APPEND_RETRY_MS = 30_000;

export interface RunWriterDeps {
  log: Logger;
  now: () => number;
  nats: Nats;
  runLog: RunLog;
  runs: RunStore;
  /** Entries between snapshots, at least (see `appendMessage`). */
  snapshotEvery: number;
  /** Whether appends to runs of partition `p` are still this process's to retry. */
  keepsTrying(p: number): boolean;
  /** Counts runs and step attempts as their entries land. */
  metrics: RunMetrics;
}

type Snapshot = Actor["snapshot"];

export class RunWriter {
  constructor(private readonly deps: RunWriterDeps) {}

  /** The largest message body the server takes (its max_payload, less room for headers). */
  maxMessageBytes(): number {
    return maxPayload(this.deps.nats) - HEADER_ROOM;
  }

  /**
   * Numbers, validates and appends entries. Throws AppendConflictError when another writer got
   * there first and AppendFailedError when RUNS keeps refusing (the actor is then dropped).
   */
  async append(actor: Actor, entries: NewRunLogEntry[]): Promise<boolean> {
    const limit = this.maxMessageBytes();
    let { numbered, after } = this.number(actor.snapshot, entries);
    if (numbered.length === 0) return true;
    const body = JSON.stringify(numbered);
    if (Buffer.byteLength(body) <= limit) {
      await this.appendMessage(actor, numbered, after, body);
      return true;
    }
    // Over the server's largest message: entries that can never fit become failures saying so,
    // and the rest go in several messages, in order (each message's state is applied again from
    // the one before: keeping every intermediate state of a 10,000-entry batch took gigabytes).
    ({ numbered } = this.number(
      actor.snapshot,
      entries.map((e) => fitEntry(e, limit - 2)),
    ));
    for (const chunk of chunkEntries(numbered, limit)) {
      ({ after } = applyEntries(actor.snapshot, chunk));
      await this.appendMessage(actor, chunk, after, JSON.stringify(chunk));
    }
    return true;
  }

  /**
   * Appends a fence to a run read from its log before calling the app for it (see `RunLog.claim`):
   * the previous owner's late append then conflicts, or, if it landed first, this one does and
   * the run is read again.
   */
  async claim(actor: Actor): Promise<void> {
    const result = await this.deps.runLog.claim(actor.runId, actor.lastSeq);
    if (result.ok && !result.duplicate) {
      actor.lastSeq = result.seq;
      actor.claimed = true;
      return;
    }
    if (!result.ok && !result.conflict) {
      this.deps.runs.evict(actor.runId);
      throw new AppendFailedError(actor.runId, result.description);
    }
    await this.conflicted(actor, result);
    throw new AppendConflictError(actor.runId);
  }

  /** Saves the run's snapshot in the background (a failure is logged). */
  saveSnapshot(actor: Actor): void {
    this.deps.runs.saveSnapshot(actor, this.maxMessageBytes()).then(
      () => undefined,
      (e) => this.deps.log.warn({ err: e, runId: actor.runId }, "snapshot save failed"),
    );
  }

  /** Numbers entries after `from`'s last and applies them (entries the state rejects are dropped and logged). */
  private number(from: Snapshot, entries: NewRunLogEntry[]): { numbered: RunLogEntry[]; after: Snapshot } {
    // One batch: the run's steps are copied once, not once per entry (see core `inBatch`).
    return inBatch(() => {
      let next = from;
      const numbered: RunLogEntry[] = [];
      for (const e of entries) {
        const entry = { ...e, n: next.context.lastN + 1 } as RunLogEntry;
        try {
          next = applyEntry(next, entry);
          numbered.push(entry);
        } catch (err) {
          this.deps.log.warn({ runId: from.context.runId, err }, "dropping an entry the run does not accept");
        }
      }
      return { numbered, after: next };
    });
  }

  /**
   * Appends one message (`body`: the JSON of `numbered`) after the actor's last; on success the
   * actor moves to `next`, the state after them.
   */
  private async appendMessage(
    actor: Actor,
    numbered: RunLogEntry[],
    next: Snapshot,
    body: string,
  ): Promise<void> {
    const first = numbered[0] as RunLogEntry;
    const partition = actor.snapshot.context.partition;
    const giveUpAt = this.deps.now() + APPEND_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      let result: PublishResult;
      try {
        result = await this.deps.runLog.appendJson(actor.runId, first.n, body, actor.lastSeq);
      } catch (e) {
        if (attempt < 3) continue; // same msg id and expected sequence: a retry cannot duplicate
        throw e;
      }
      if (result.ok && !result.duplicate) {
        this.applied(actor, next, result.seq, numbered);
        return;
      }
      if (!result.ok && !result.conflict && result.code >= 500) {
        // RUNS could not take it now (no stream leader while a cluster node is lost: 503 no
        // responders). Keep what the app answered and append it again, with backoff, while this
        // executor owns the run: otherwise the step would run again once the run is reloaded.
        if (this.deps.now() < giveUpAt && this.deps.keepsTrying(partition)) {
          if (attempt === 0) this.deps.log.warn({ runId: actor.runId, result }, "could not append; retrying");
          await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** Math.min(attempt, 5))));
          continue;
        }
        this.deps.log.warn(
          { runId: actor.runId, result },
          "could not append; reloading the run from its log",
        );
        this.deps.runs.evict(actor.runId);
        throw new AppendFailedError(actor.runId, result.description);
      }
      // Another writer (or an earlier attempt of ours that did land) got there first: trust the log.
      await this.conflicted(actor, result);
      throw new AppendConflictError(actor.runId);
    }
  }

  /** The actor after an append of `entries` landed at `seq`. */
  private applied(actor: Actor, next: Snapshot, seq: number, entries: RunLogEntry[]): void {
    const count = entries.length;
    this.traceTransitions(actor.snapshot, next);
    countLanded(this.deps.metrics, actor.snapshot, next, entries);
    actor.snapshot = next;
    actor.lastSeq = seq;
    actor.claimed = true;
    actor.sinceSnapshot += count;
    // A snapshot holds every step: for a run with thousands (a fan-out) one every 16 entries
    // made snapshot writing quadratic. Waiting for as many new entries as half its steps keeps
    // the total linear, and a rebuild replays at most that many.
    const every = Math.max(this.deps.snapshotEvery, next.context.stepOrder.length >> 1);
    if (actor.sinceSnapshot >= every) this.saveSnapshot(actor);
  }

  /** After an append lost to another writer: the actor is dropped, to be read again from the log. */
  private async conflicted(actor: Actor, result: PublishResult): Promise<void> {
    this.deps.log.warn({ runId: actor.runId, result }, "append conflict; reloading the run from its log");
    this.deps.runs.evict(actor.runId);
    // The log ends before what this copy was built from: its snapshot is ahead of a log that lost
    // its tail (a server that did not sync before a crash). Rebuilt from it, every append would
    // conflict again; the log alone is the truth.
    if (!result.ok && result.lastSeq !== undefined && result.lastSeq < actor.lastSeq) {
      this.deps.log.error(
        { runId: actor.runId, logLastSeq: result.lastSeq, snapshotSeq: actor.lastSeq },
        "the run's snapshot is ahead of its log; dropping the snapshot",
      );
      await this.deps.runs.dropSnapshot(actor.runId);
    }
  }

  /** Spans of what the appended entries ended: sleeps, waits and invokes, and the run itself. */
  private traceTransitions(before: Snapshot, after: Snapshot): void {
    const ctx = after.context;
    const ended = isActive(statusOf(before)) && !isActive(statusOf(after));
    for (const id of before.context.stepOrder) {
      const was = before.context.steps[id];
      if (!was || (was.status !== "sleeping" && was.status !== "waiting")) continue;
      const now = ctx.steps[id];
      if (now?.status !== was.status) recordParkedStep(ctx, was, now, this.deps.now());
      else if (ended) recordParkedStep(ctx, was, undefined, ctx.endedAt ?? this.deps.now());
    }
    if (ended) recordRun(ctx, statusOf(after), this.deps.now());
  }
}
