/**
 * Hot run actors in memory, rebuilt on demand from the SNAPSHOTS bucket plus the log's tail
 * (direct gets, no consumer). Work on one run is serialized through its queue.
 */
import { initialRun, persist, type RunSnapshot } from "@jetstep/core";
import { type RunLog, readRun, type SnapshotStore } from "@jetstep/jetstream";

export interface Actor {
  runId: string;
  snapshot: RunSnapshot;
  /** Stream sequence of the last message of the run's log (0: empty log). */
  lastSeq: number;
  /** Entries in the log after the last snapshot saved (what a rebuild would replay). */
  sinceSnapshot: number;
  /** Which ACTIVE key marks the run: due (resumed on takeover) or parked on timers/waits. */
  parked?: boolean;
  /**
   * Whether this process has appended to the run's log since it read it (or created the run):
   * until then a late append of the run's previous owner could still land, so the executor
   * appends a fence (`RunLog.claim`) before calling the app.
   */
  claimed?: boolean;
}

export class RunStore {
  private readonly actors = new Map<string, Actor>();
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly runLog: RunLog,
    private readonly snapshots: Pick<SnapshotStore, "get" | "save" | "drop">,
    private readonly maxHot: number,
  ) {}

  get hotCount(): number {
    return this.actors.size;
  }

  /**
   * Runs `fn` with the run's actor once every earlier task on the run has finished. With
   * `assumeNew`, a run not in memory starts empty instead of being read from its log (a run this
   * process is about to create): its first append expects an empty log, so if the run existed
   * after all, that append is a conflict and the caller goes on with the run read from its log.
   */
  withActor(
    runId: string,
    fn: (actor: Actor) => Promise<void>,
    opts: { assumeNew?: boolean } = {},
  ): Promise<void> {
    const prev = this.queues.get(runId) ?? Promise.resolve();
    const next = prev.then(async () => {
      const actor = opts.assumeNew ? this.loadOrEmpty(runId) : await this.load(runId);
      try {
        await fn(actor);
      } catch (e) {
        // Whatever failed may have left the actor behind its log (an append that timed out may
        // still have landed): the next task on the run reads it again rather than act on a copy
        // that could call a step whose result is already recorded.
        if (this.actors.get(runId) === actor) this.actors.delete(runId);
        throw e;
      }
    });
    const tail = next.catch(() => undefined);
    this.queues.set(runId, tail);
    void tail.then(() => {
      if (this.queues.get(runId) === tail) this.queues.delete(runId);
    });
    return next;
  }

  /** Forgets the in-memory actor (after a conflict, a failure, a lost lease, or the run's end). */
  evict(runId: string): void {
    this.actors.delete(runId);
  }

  evictWhere(pred: (a: Actor) => boolean): void {
    for (const [id, a] of this.actors) if (pred(a)) this.actors.delete(id);
  }

  private async load(runId: string): Promise<Actor> {
    const hot = this.actors.get(runId);
    if (hot) return hot;
    const { snapshot, lastSeq, tail } = await readRun(this.runLog, this.snapshots, runId);
    const actor: Actor = { runId, snapshot, lastSeq, sinceSnapshot: tail };
    // An empty log is not kept: the run may be being created by the partition's previous owner
    // right now, and a cached empty copy would hide it (its kicks do nothing) until a restart.
    if (lastSeq === 0) return actor;
    if (this.actors.size >= this.maxHot) this.evictOne();
    this.actors.set(runId, actor);
    return actor;
  }

  private loadOrEmpty(runId: string): Actor {
    const hot = this.actors.get(runId);
    if (hot) return hot;
    const actor: Actor = { runId, snapshot: initialRun(), lastSeq: 0, sinceSnapshot: 0, claimed: true };
    if (this.actors.size >= this.maxHot) this.evictOne();
    this.actors.set(runId, actor);
    return actor;
  }

  private evictOne(): void {
    for (const id of this.actors.keys()) {
      if (!this.queues.has(id)) {
        this.actors.delete(id);
        return;
      }
    }
  }

  /** Deletes the run's snapshot: its next rebuild replays the whole log. */
  async dropSnapshot(runId: string): Promise<void> {
    await this.snapshots.drop(runId);
  }

  /**
   * Stores the actor's state as its run's snapshot. A state larger than `maxBytes` (the server's
   * max_payload: a run with thousands of steps) is not stored: the log stays the source of truth
   * and a rebuild replays it from the last snapshot that fitted. Resolves whether it was stored.
   */
  saveSnapshot(actor: Actor, maxBytes = Number.POSITIVE_INFINITY): Promise<boolean> {
    actor.sinceSnapshot = 0;
    return this.snapshots.save(actor.runId, { seq: actor.lastSeq, run: persist(actor.snapshot) }, maxBytes);
  }
}
