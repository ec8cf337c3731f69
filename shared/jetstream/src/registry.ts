/**
 * Registered apps and their functions (FUNCTIONS bucket, one key per app). `Registry.watch()`
 * keeps an in-memory copy current from a KV watch, so lookups on the hot path never do I/O.
 */
import { type AppRecord, type FunctionDef, Keys } from "@jetstep/core";
import type { KV, KvWatchEntry } from "@nats-io/kv";

export interface RegisteredFunction {
  app: AppRecord;
  fn: FunctionDef;
}

export class Registry {
  private readonly apps = new Map<string, AppRecord>();
  private readonly byFnId = new Map<string, RegisteredFunction>();
  private stopWatch: (() => void) | undefined;

  constructor(private readonly kv: KV) {}

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

  /** Loads everything and follows changes until `stop()`. Resolves once the initial load is done. */
  async watch(): Promise<void> {
    // Watch every key (the bucket also holds app sync statuses): `delta` then reaches 0 whenever the
    // bucket has values, which is what `ready` waits for. Watching only `app.>` hung forever when
    // the bucket held sync statuses but no app yet.
    const iter = await this.kv.watch();
    this.stopWatch = () => iter.stop();
    let resolveReady!: () => void;
    const ready = new Promise<void>((r) => {
      resolveReady = r;
    });
    const status = await this.kv.status();
    if (status.values === 0) resolveReady();
    void (async () => {
      for await (const e of iter as AsyncIterable<KvWatchEntry>) {
        if (e.key.startsWith("app.")) {
          const appId = e.key.slice("app.".length);
          this.apply(appId, e.operation === "PUT" ? e.json<AppRecord>() : undefined);
        }
        if (e.delta === 0) resolveReady();
      }
    })();
    await ready;
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
