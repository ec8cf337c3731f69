/**
 * Registered apps and their functions (FUNCTIONS bucket, one key per app). `Registry.watch()`
 * keeps an in-memory copy current from a KV watch, so lookups on the hot path never do I/O; each
 * function's options are normalised (`functionSpec`) when its app's record is loaded.
 *
 * This process's own writes (`put`, `remove`) apply at once, and the watch never takes an app back
 * to an older revision than the one applied: under load its entry for a registration made just
 * before a removal came after the removal, and the app was listed again (a UI that reloaded the list
 * then kept the removed app's row).
 */
import {
  type AppRecord,
  type FunctionDef,
  type FunctionSpec,
  functionSpec,
  Keys,
  unescapeToken,
} from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import { KvFollower } from "./kv-follower.ts";

export interface RegisteredFunction {
  app: AppRecord;
  fn: FunctionDef;
  /** Its options normalised (durations in ms, expressions compiled), once per registration. */
  spec: FunctionSpec;
}

export class Registry {
  private readonly apps = new Map<string, AppRecord>();
  private readonly byFnId = new Map<string, RegisteredFunction>();
  /** Per `app.<key>`, the revision of the record applied last. */
  private readonly revisions = new Map<string, number>();
  private stopWatch: (() => void) | undefined;

  constructor(
    private readonly kv: KV,
    private readonly onWarn: (message: string, err?: unknown) => void = () => {},
  ) {}

  /** Stores an app's registration; returns whether it changed. */
  async put(app: AppRecord): Promise<boolean> {
    const key = Keys.app(app.appId);
    const prev = await this.kv.get(key);
    const prevApp = prev && prev.operation === "PUT" ? prev.json<AppRecord>() : undefined;
    const modified =
      !prevApp || JSON.stringify({ ...prevApp, syncedAt: 0 }) !== JSON.stringify({ ...app, syncedAt: 0 });
    const revision = await this.kv.put(key, JSON.stringify(app));
    this.applyAt(key, revision, app);
    return modified;
  }

  /** Removes an app and its functions; resolves whether it was registered. */
  async remove(appId: string): Promise<boolean> {
    const known = this.apps.has(appId) || (await this.kv.get(Keys.app(appId)))?.operation === "PUT";
    if (!known) return false;
    const key = Keys.app(appId);
    await this.kv.delete(key);
    // The key as it is now (the delete marker, or a registration that came right after it), with
    // its revision, so a late watch entry cannot list the app again.
    const now = await this.kv.get(key).catch(() => null); // deleted either way; the watch follows
    if (now) this.applyAt(key, now.revision, now.operation === "PUT" ? now.json<AppRecord>() : undefined);
    else this.apply(key.slice("app.".length), undefined);
    return true;
  }

  /**
   * Loads everything and follows changes until `stop()` (through outages: see KvFollower).
   * Resolves once the initial load is done.
   */
  async watch(): Promise<void> {
    // Every key is followed (the bucket also holds app sync statuses); an earlier watch of only
    // `app.>` hung when the bucket held sync statuses but no app yet.
    const follower = new KvFollower(this.kv, {
      onEntry: (e) => {
        if (!e.key.startsWith("app.")) return;
        this.applyAt(e.key, e.revision, e.operation === "PUT" ? e.json<AppRecord>() : undefined);
      },
      onWarn: this.onWarn,
    });
    this.stopWatch = () => follower.stop();
    await follower.start();
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** Applies the record of `app.<key>` at `revision`, unless a later one was applied already. */
  private applyAt(key: string, revision: number, app: AppRecord | undefined): void {
    if (revision <= (this.revisions.get(key) ?? 0)) return;
    this.revisions.set(key, revision);
    this.apply(key.slice("app.".length), app);
  }

  /** An app's record as stored under `app.<key>` (undefined: deleted). */
  private apply(key: string, app: AppRecord | undefined): void {
    const appId = app?.appId ?? unescapeToken(key);
    const prev = this.apps.get(appId);
    // Only the functions this app still holds: in dev another app may have taken one over.
    if (prev)
      for (const fn of prev.functions) if (this.byFnId.get(fn.id)?.app === prev) this.byFnId.delete(fn.id);
    if (!app) {
      this.apps.delete(appId);
      return;
    }
    this.apps.set(app.appId, app);
    for (const fn of app.functions) {
      let spec: FunctionSpec;
      try {
        spec = functionSpec(fn);
      } catch (err) {
        // Stored before its options were checked as they are now: it cannot run; say so once.
        this.onWarn(
          `function ${fn.id} of app ${app.appId} has options that no longer parse; ignoring it`,
          err,
        );
        continue;
      }
      this.byFnId.set(fn.id, { app, fn, spec });
    }
  }

  listApps(): AppRecord[] {
    return [...this.apps.values()];
  }

  functions(): RegisteredFunction[] {
    return [...this.byFnId.values()];
  }

  getFunction(fnId: string): RegisteredFunction | undefined {
    return this.byFnId.get(fnId);
  }
}
