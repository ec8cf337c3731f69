/**
 * One attempt at reading a partition just taken over (its due runs and its timers), in the order
 * that finds a run its previous owner parks meanwhile. Used by `PartitionOwner.catchUp`.
 */
import type { StoredTimer } from "@jetstep/jetstream";

/** What taking a partition over reads, and where what it read goes (see `readTakenPartition`). */
export interface TakeOverReads {
  listDue(): Promise<string[]>;
  loadTimers(): Promise<readonly StoredTimer[]>;
  timersLoaded(timers: readonly StoredTimer[]): void;
  kickLater(runId: string): void;
}

/**
 * One attempt at picking up a partition just taken over: lists its due runs, loads its timers
 * (unless an earlier attempt did: `loaded.timers`), hands the timers on, then resumes the due
 * runs. Returns what it found, or undefined if the load was superseded meanwhile (`current()`).
 *
 * The due runs are listed before the timers are read. The previous owner, still finishing what it
 * had started, writes a run's timers to TIMERS before it moves the run's ACTIVE marker from due to
 * parked (`RunDriver.kick`), so a run it parks while this runs is found either way: due in the
 * listing (resumed here, which arms its timers), or parked before the listing, its timers then
 * already in TIMERS for the load after it. Read the other way round, a run parked between the two
 * reads was in neither, and slept until its partition next changed hands.
 */
export async function readTakenPartition(
  steps: TakeOverReads,
  current: () => boolean,
  loaded: { timers: boolean },
): Promise<{ timers: number | undefined; active: number } | undefined> {
  const due = await steps.listDue();
  if (!current()) return undefined;
  let timers: number | undefined;
  if (!loaded.timers) {
    const read = await steps.loadTimers();
    if (!current()) return undefined;
    steps.timersLoaded(read);
    loaded.timers = true;
    timers = read.length;
  }
  for (const runId of due) steps.kickLater(runId);
  return { timers, active: due.length };
}
