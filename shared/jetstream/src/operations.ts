/**
 * Bulk operations and paused functions.
 * - OPERATIONS (`op.<id>`, the latest message per operation, 90 days): each replay, cancellation,
 *   pause and resume, appended again as it progresses; listed newest first (the audit log).
 * - PAUSES (one key per paused function): what executors follow to hold the first call of every
 *   run of a paused function until it is resumed.
 */
import {
  Keys,
  type OperationRecord,
  OperationRecordSchema,
  type PauseRecord,
  PauseRecordSchema,
  Streams,
  Subjects,
} from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import type { Nats } from "./connection.ts";
import { isNotFound } from "./errors.ts";
import type { KvFollower } from "./kv-follower.ts";
import { compareAndSet, followBucket, readVersioned } from "./kv-store.ts";
import type { Publisher } from "./publisher.ts";
import { type Page, pageBackwards } from "./stream-pages.ts";

export class OperationLog {
  constructor(
    private readonly nats: Nats,
    private readonly publisher: Publisher,
  ) {}

  /** Appends the operation's current state (it replaces the one before). */
  async record(op: OperationRecord): Promise<void> {
    await this.publisher.publishJson(Subjects.operation(op.id), op);
  }

  async get(id: string): Promise<OperationRecord | undefined> {
    let subject: string;
    try {
      subject = Subjects.operation(id);
    } catch {
      return undefined; // not an id at all
    }
    try {
      const m = await this.nats.jsm.direct.getMessage(Streams.operations, { last_by_subj: subject });
      const parsed = OperationRecordSchema.safeParse(m?.json());
      return parsed.success ? parsed.data : undefined;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Newest change first, optionally of one function; `cursor` continues a page. */
  list(opts: { fnId?: string; cursor?: number; limit: number }): Promise<Page<OperationRecord>> {
    return pageBackwards(this.nats, Streams.operations, opts.cursor, opts.limit, (json) => {
      const parsed = OperationRecordSchema.safeParse(json);
      if (!parsed.success) return undefined;
      return opts.fnId === undefined || parsed.data.fnId === opts.fnId ? parsed.data : undefined;
    });
  }
}

/** PAUSES: paused functions. */
export class PauseStore {
  constructor(private readonly kv: KV) {}

  async get(fnId: string): Promise<PauseRecord | undefined> {
    return (await readVersioned(this.kv, Keys.pause(fnId), (e) => PauseRecordSchema.parse(e.json())))?.value;
  }

  /** Pauses the function; false when it already is. */
  async pause(record: PauseRecord): Promise<boolean> {
    const key = Keys.pause(record.fnId);
    const current = await readVersioned(this.kv, key, (e) => PauseRecordSchema.safeParse(e.json()).data);
    if (current?.value !== undefined) return false;
    return (await compareAndSet(this.kv, key, JSON.stringify(record), current)).ok;
  }

  /** Resumes the function; false when it was not paused. */
  async resume(fnId: string): Promise<boolean> {
    const key = Keys.pause(fnId);
    const current = await readVersioned(this.kv, key, (e) => PauseRecordSchema.safeParse(e.json()).data);
    if (current?.value === undefined) return false;
    await this.kv.delete(key, { previousSeq: current.revision });
    return true;
  }

  /** Every paused function. */
  async list(): Promise<PauseRecord[]> {
    const out: PauseRecord[] = [];
    const keys = await this.kv.keys();
    for await (const key of keys) {
      const e = await this.kv.get(key);
      const parsed = e?.operation === "PUT" ? PauseRecordSchema.safeParse(e.json()) : undefined;
      if (parsed?.success) out.push(parsed.data);
    }
    return out;
  }
}

/** Thrown to the waiters of `PausedFunctions.whenResumed` when it stops. */
export class PauseWatchStoppedError extends Error {
  override name = "PauseWatchStoppedError";
}

/**
 * The paused functions, followed live (an executor's view): `whenResumed(fnId)` resolves at once
 * for a function that is not paused, and when it is resumed for one that is.
 */
export class PausedFunctions {
  private readonly paused = new Map<string, PauseRecord>();
  private readonly waiters = new Map<string, { resolve(): void; reject(e: Error): void }[]>();
  private readonly follower: KvFollower;

  constructor(kv: KV, onWarn: (message: string, err?: unknown) => void) {
    this.follower = followBucket(kv, (e) => PauseRecordSchema.safeParse(e.json()).data, {
      onPut: (_key, record) => this.paused.set(record.fnId, record),
      onRemove: (key) => {
        for (const [fnId] of this.paused) if (Keys.pause(fnId) === key) this.resumed(fnId);
      },
      onResync: (present) => {
        for (const fnId of [...this.paused.keys()]) if (!present.has(Keys.pause(fnId))) this.resumed(fnId);
      },
      onWarn,
    });
  }

  /** Resolves once the bucket's current state is known. */
  start(): Promise<void> {
    return this.follower.start();
  }

  stop(): void {
    this.follower.stop();
    const err = new PauseWatchStoppedError("stopped while waiting for a paused function");
    for (const list of this.waiters.values()) for (const w of list) w.reject(err);
    this.waiters.clear();
  }

  isPaused(fnId: string): boolean {
    return this.paused.has(fnId);
  }

  whenResumed(fnId: string): Promise<void> {
    if (!this.paused.has(fnId)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(fnId) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(fnId, list);
    });
  }

  private resumed(fnId: string): void {
    this.paused.delete(fnId);
    const list = this.waiters.get(fnId) ?? [];
    this.waiters.delete(fnId);
    for (const w of list) w.resolve();
  }
}
