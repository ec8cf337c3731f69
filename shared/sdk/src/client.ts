import { type ClientSettings, type JetstepOptions, resolveClientSettings } from "./client-options.ts";
import type { DeferTarget } from "./defer.ts";
import { InvalidConfigError } from "./errors.ts";
import { type FunctionContext, type Handler, JetstepFunction } from "./function.ts";
import { type FunctionConfigInput, parseFunctionDefinition, type TriggerInput } from "./function-config.ts";
import { defaultLogger, type Logger } from "./logger.ts";
import { sendEvents } from "./send.ts";
import type { EventInput } from "./step-tools.ts";
import { InternalEvent, type JetstepEvent } from "./wire.ts";

/** The run that deferred a run (`ctx.parents[i]`, for `ctx.events[i]`). */
export interface DeferParent {
  fnSlug: string;
  runId: string;
}

/** What a deferred function's handler receives: the data given to `defer()`, and who deferred it. */
export interface DeferContext<TData = Record<string, unknown>> extends FunctionContext<TData> {
  parents: DeferParent[];
}

/**
 * The Jetstep client of one app: defines functions and sends events. Settings are resolved once, at
 * construction (options, else env — see {@link JetstepOptions}), and frozen.
 * Throws InvalidConfigError when an option is invalid.
 */
export class Jetstep {
  readonly id: string;
  readonly settings: ClientSettings;
  readonly logger: Logger;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;

  constructor(options: JetstepOptions) {
    this.settings = resolveClientSettings(options);
    this.id = this.settings.id;
    this.logger = options.logger ?? defaultLogger();
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#now = options.now ?? Date.now;
  }

  /** The gateway URL (no trailing slash). */
  get baseUrl(): string {
    return this.settings.baseUrl;
  }

  /** Current time in ms, from the injected clock. */
  now(): number {
    return this.#now();
  }

  /** The fetch used for gateway calls. */
  get fetch(): typeof fetch {
    return this.#fetch;
  }

  /**
   * Defines a durable function. `config.retries` (0–20, default 4) counts retries per step; flow
   * control (`concurrency`, `throttle`, `rateLimit`, `debounce`, `priority`, `batchEvents`,
   * `cancelOn`, `idempotency`, `singleton`, `timeouts`) is registered with the server as given.
   * `trigger` is `{ event, if? }`, `{ cron }`, or an array of them. The function's wire id is
   * `<appId>-<config.id>`. Throws InvalidConfigError naming the bad field (e.g. `config.retries`).
   */
  // biome-ignore lint/suspicious/noExplicitAny: untyped event data defaults to `any` fields, as in the official SDK
  createFunction<TData extends Record<string, unknown> = Record<string, any>, TResult = unknown>(
    config: FunctionConfigInput,
    trigger: TriggerInput | TriggerInput[],
    handler: Handler<TData, TResult>,
  ): JetstepFunction<TData, TResult> {
    const parsed = parseFunctionDefinition(config, trigger);
    if (typeof handler !== "function") {
      throw new InvalidConfigError(
        "handler",
        `createFunction(${JSON.stringify(parsed.config.id)}): handler must be a function`,
      );
    }
    return new JetstepFunction<TData, TResult>({
      appId: this.id,
      config: parsed.config,
      triggers: parsed.triggers,
      handler,
    });
  }

  /**
   * Defines a function that runs when another run calls `ctx.defer(id, { function: this, data })`,
   * once that run has ended (as the official SDK's `createDefer`). Its event's `data` is the
   * deferred data; `ctx.parents` names the run that deferred it. It takes the same options as
   * `createFunction`, but no trigger.
   */
  // biome-ignore lint/suspicious/noExplicitAny: untyped event data defaults to `any` fields, as in the official SDK
  createDefer<TData extends Record<string, unknown> = Record<string, any>, TResult = unknown>(
    config: FunctionConfigInput,
    handler: (ctx: DeferContext<TData>) => TResult | Promise<TResult>,
  ): JetstepFunction<TData, TResult> & DeferTarget {
    const id = (config as { id?: unknown })?.id;
    if (typeof id !== "string" || !/^[A-Za-z0-9_.:-]+$/.test(id))
      throw new InvalidConfigError(
        "config.id",
        "createDefer: config.id must be a non-empty id without quotes",
      );
    if (typeof handler !== "function")
      throw new InvalidConfigError(
        "handler",
        `createDefer(${JSON.stringify(id)}): handler must be a function`,
      );
    const slug = `${this.id}-${id}`;
    const fn = this.createFunction<TData, TResult>(
      config,
      { event: InternalEvent.DeferredSchedule, if: `event.data._inngest.fn_slug == '${slug}'` },
      (ctx) => {
        const parents = ctx.events.map(parentOf);
        return handler({
          ...ctx,
          event: withoutMeta(ctx.event),
          events: ctx.events.map(withoutMeta),
          parents,
        });
      },
    );
    return Object.assign(fn, { deferSlug: slug });
  }

  /**
   * Sends one event or several to the gateway (`POST {baseUrl}/e/{eventKey ?? "dev"}`) and returns
   * their ids. Throws SendEventError with the gateway's message on a non-2xx answer, or status 0 when
   * the gateway can't be reached. Not durable: inside a function use `step.sendEvent`.
   */
  send(events: EventInput | EventInput[]): Promise<{ ids: string[] }> {
    return sendEvents({
      baseUrl: this.settings.baseUrl,
      eventKey: this.settings.eventKey,
      events: Array.isArray(events) ? events : [events],
      fetch: this.#fetch,
      now: this.#now,
    });
  }
}

function parentOf(event: JetstepEvent<Record<string, unknown>>): DeferParent {
  const meta = (event.data as { _inngest?: { parent_fn_slug?: unknown; parent_run_id?: unknown } })._inngest;
  return { fnSlug: String(meta?.parent_fn_slug ?? ""), runId: String(meta?.parent_run_id ?? "") };
}

/** The event as the deferred function sees it: its data without Jetstep's `_inngest`. */
function withoutMeta<TData>(event: JetstepEvent<TData>): JetstepEvent<TData> {
  const { _inngest: _meta, ...data } = event.data as Record<string, unknown>;
  return { ...event, data: data as TData };
}
