/**
 * Cron triggers. The scheduler holding the `cron` lease checks every registered cron trigger a
 * few times a second and, at each slot, stores an `inngest/scheduled.timer` event whose id is
 * derived from (function, slot): EVENTS deduplicates it, so a slot starts exactly one run even
 * when two schedulers fire it (e.g. around a lease handover).
 *
 * A trigger's `jitter` delays each slot's firing by a share of it computed from (function, slot),
 * so schedulers around a handover fire at the same moment; the event keeps the slot's time.
 *
 * Missed slots are not replayed: when a scheduler starts (or a stall makes it late by more than a
 * slot), it fires only the slot that just passed (if within the grace period) and then continues
 * from now — an outage never causes a burst of runs.
 */
import {
  type CronSchedule,
  InternalEvents,
  jitterDelay,
  jitterMs,
  Keys,
  parseCron,
  type StoredEvent,
  Subjects,
} from "@jetstep/core";
import { type JetstepBuckets, type Nats, PartitionLeases, Publisher, Registry } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";

export interface CronDeps {
  nats: Nats;
  buckets: JetstepBuckets;
  log: Logger;
  owner: string;
  leaseTtlMs: number;
  tickMs?: number;
  /** A slot this late or less is still fired when noticed (default 60 s). */
  graceMs?: number;
  now?: () => number;
  /** The registry of this process (`sharedRegistry`), watched and stopped by its maker; else its own. */
  registry?: Registry;
}

export interface CronScheduler {
  start(): Promise<void>;
  stop(): Promise<void>;
  isLeader(): boolean;
}

interface Entry {
  fnId: string;
  cron: string;
  schedule: CronSchedule;
  /** The next slot (the run's event carries this time). */
  nextAt: number;
  /** The trigger's `jitter`: a slot fires up to this long after its time. */
  jitterMs: number;
}

export function buildCron(deps: CronDeps): CronScheduler {
  const log = deps.log.child({ svc: "cron" });
  const now = deps.now ?? Date.now;
  const graceMs = deps.graceMs ?? 60_000;
  const registry =
    deps.registry ??
    new Registry(deps.buckets.functions, (message, err) => log.warn({ err, bucket: "functions" }, message));
  const publisher = new Publisher(deps.nats.nc);
  const entries = new Map<string, Entry>();
  let leader = false;
  let timer: NodeJS.Timeout | undefined;
  let ticking = false;
  const leases = new PartitionLeases(
    deps.buckets.leases,
    deps.nats.js,
    { owner: deps.owner, partitions: 1, ttlMs: deps.leaseTtlMs, key: () => Keys.cronLeader },
    {
      acquired: () => {
        leader = true;
        entries.clear(); // start from now: missed slots are not replayed
        log.info("cron leader");
      },
      lost: () => {
        leader = false;
      },
    },
  );

  async function tick(): Promise<void> {
    if (!leader || ticking) return;
    ticking = true;
    try {
      const t = now();
      refreshEntries(entries, registry, t, log);
      for (const e of entries.values()) {
        const due = e.nextAt + jitterDelay(e.fnId, e.nextAt, e.jitterMs);
        if (due > t) continue;
        if (t - due <= graceMs) await fireSlot(publisher, log, e, e.nextAt);
        else
          log.warn(
            { fnId: e.fnId, slot: new Date(e.nextAt).toISOString() },
            "cron slot missed; not replayed",
          );
        // Continue from now, so a long stall never turns into a burst of runs.
        e.nextAt = e.schedule.next(Math.max(e.nextAt, t - 1)) ?? Number.POSITIVE_INFINITY;
      }
    } catch (err) {
      log.error({ err }, "cron tick failed");
    } finally {
      ticking = false;
    }
  }

  return {
    async start() {
      if (!deps.registry) await registry.watch();
      await leases.start();
      timer = setInterval(() => void tick(), deps.tickMs ?? 200);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await leases.stop(true);
      if (!deps.registry) registry.stop();
      publisher.close();
    },
    isLeader: () => leader,
  };
}

/** Keeps one entry per (function, cron trigger) in step with the registry. */
function refreshEntries(entries: Map<string, Entry>, registry: Registry, t: number, log: Logger): void {
  const seen = new Set<string>();
  for (const { fn } of registry.functions()) {
    for (const trigger of fn.triggers) {
      if (!("cron" in trigger)) continue;
      const key = `${fn.id}\u0000${trigger.cron}\u0000${trigger.jitter ?? ""}`;
      seen.add(key);
      if (entries.has(key)) continue;
      try {
        const schedule = parseCron(trigger.cron);
        const jitter = trigger.jitter === undefined ? 0 : jitterMs(trigger.jitter);
        const nextAt = schedule.next(t - 1);
        if (nextAt !== undefined)
          entries.set(key, { fnId: fn.id, cron: trigger.cron, schedule, nextAt, jitterMs: jitter });
      } catch (e) {
        log.warn({ fnId: fn.id, cron: trigger.cron, err: e }, "skipping an invalid cron trigger");
      }
    }
  }
  for (const key of entries.keys()) if (!seen.has(key)) entries.delete(key);
}

/** Stores the slot's event; its id, from (function, slot), lets EVENTS drop a second scheduler's copy. */
async function fireSlot(publisher: Publisher, log: Logger, e: Entry, slot: number): Promise<void> {
  const id = `cron-${e.fnId}-${slot}`;
  const event: StoredEvent = {
    id,
    name: InternalEvents.scheduledTimer,
    data: { cron: e.cron, function_id: e.fnId },
    ts: slot,
  };
  const r = await publisher.publish(Subjects.event(event.name), JSON.stringify(event), { msgId: id });
  if (!r.ok) throw new Error(`could not store cron event for ${e.fnId}: ${r.description}`);
  log.debug({ fnId: e.fnId, slot: new Date(slot).toISOString(), duplicate: r.duplicate }, "cron fired");
}
