/**
 * Registered apps and their functions (FUNCTIONS bucket, one key per app). `Registry.watch()`
 * keeps an in-memory copy current from a KV watch, so lookups on the hot path never do I/O.
 */
import { type AppRecord, type FunctionDef, Keys } from "@jetstep/core";
import type { KV } from "@nats-io/kv";
import { KvFollower } from "./kv-follower.ts";

export interface RegisteredFunction {
  app: AppRecord;
  fn: FunctionDef;
}

export class Registry {
  private readonly apps = new Map<string, AppRecord>();
  private readonly byFnId = new Map<string, RegisteredFunction>();
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
    await this.kv.put(key, JSON.stringify(app));
    this.apply(app.appId, app);
    return modified;
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
        this.apply(e.key.slice("app.".length), e.operation === "PUT" ? e.json<AppRecord>() : undefined);
      },
      onWarn: this.onWarn,
    });
    this.stopWatch = () => follower.stop();
    await follower.start();
  }

  stop(): void {
    this.stopWatch?.();
  }

  private apply(_key: string, app: AppRecord | undefined): void {
    if (!app) return;
    const prev = this.apps.get(app.appId);
    if (prev) for (const fn of prev.functions) this.byFnId.delete(fn.id);
    this.apps.set(app.appId, app);
    for (const fn of app.functions) this.byFnId.set(fn.id, { app, fn });
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
