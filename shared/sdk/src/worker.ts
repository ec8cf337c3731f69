/**
 * NATS workers: serve functions over NATS instead of HTTP. A worker subscribes to its app's call
 * subject (`jetstep.call.<appId>`) in a queue group, so the worker processes of one app share the
 * calls; it registers the app on `jetstep.register` (URL `nats://<appId>`), and answers each call
 * through the same handler as `serve()` — signatures, steps and errors behave exactly as over HTTP.
 * While a call runs it sends progress messages every `heartbeatMs`, so the executor notices a
 * worker that died mid-step within a few heartbeats and retries the step elsewhere.
 */
import { Headers, Queues, Subjects, WorkerUrls } from "@jetstep/core/protocol";
import {
  type ConnectionOptions,
  connect,
  InvalidArgumentError,
  type Msg,
  type NatsConnection,
  headers as natsHeaders,
  type Subscription,
} from "@nats-io/transport-node";
import { type HttpAnswer, jsonAnswer } from "./answer.ts";
import { natsCheckpointer } from "./checkpoint.ts";
import { createRequestHandler, type ServeOptions } from "./comm-handler.ts";
import { InvalidConfigError } from "./errors.ts";
import type { JetstepFunction } from "./function.ts";
import { buildRegisterBody } from "./register.ts";
import { sendEventsOverNats } from "./send.ts";
import { Header } from "./wire.ts";
import { answerHeaders, busyHeaders, callRequest, progressHeaders } from "./worker-codec.ts";
import { type RegistrationOutcome, registerOverNats } from "./worker-register.ts";

const FRAMEWORK = "nats";
export const DEFAULT_HEARTBEAT_MS = 1_000;

/** Options of {@link worker}. */
export interface WorkerOptions
  extends Pick<
    ServeOptions,
    "client" | "functions" | "stepNotFoundTimeoutMs" | "checkpoint" | "maxRuntimeMs"
  > {
  /** NATS server URL(s). Default: the client's `natsUrl` (env JETSTEP_NATS_URL / NATS_URL), else 127.0.0.1:4222. */
  servers?: string | string[];
  /** Use this connection instead of opening one; `close()` then leaves it open. */
  nc?: NatsConnection;
  /** Extra nats.js connection options (credentials, TLS, name…) when the worker connects itself. */
  natsOptions?: Omit<ConnectionOptions, "servers">;
  /**
   * Interval of progress messages while a call runs (default 1000 ms). The executor gives up on a
   * call after about three silent intervals, so a step that blocks the event loop longer than that
   * is taken for a dead worker: raise this for such steps.
   */
  heartbeatMs?: number;
  /** Register the app with the gateway on start and when a gateway asks (default true). */
  register?: boolean;
  /**
   * Most calls this process runs at once (default: no limit). A call beyond it is answered "busy"
   * at once and not started; the executor sends it again, to any worker of the app, without
   * counting an attempt, so calls wait for a free worker instead of piling onto a busy one.
   */
  maxInFlight?: number;
}

/** A running worker. */
export interface WorkerHandle {
  readonly appId: string;
  /** The call subject this worker serves. */
  readonly subject: string;
  /**
   * The first registration's outcome: resolves (never rejects) once a gateway accepted or rejected
   * it, or with status 0 if the worker closed before any answered. Resolves `{ok: true,
   * modified: false}` at once when `register: false`.
   */
  readonly registered: Promise<RegistrationOutcome>;
  /** Calls being executed now. */
  inFlight(): number;
  /**
   * Drains: takes no new calls, finishes (and answers) the calls in flight, then closes the NATS
   * connection if the worker opened it. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts a NATS worker serving `functions` of `client`'s app. Resolves once connected and
 * subscribed; registration continues in the background (see `registered`) and is retried with
 * backoff until a gateway answers. Throws InvalidConfigError naming the bad option, or the
 * connection error when NATS cannot be reached.
 *
 * ```ts
 * const w = await worker({ client: jetstep, functions: [chargeCard], servers: "nats://localhost:4222" });
 * process.on("SIGTERM", () => void w.close());
 * ```
 */
export async function worker(options: WorkerOptions): Promise<WorkerHandle> {
  // step.sendEvent goes over NATS too (to the gateways' ingest subject): a worker needs no HTTP.
  let connection: NatsConnection | undefined;
  const handle = createRequestHandler(
    {
      ...options,
      // Checkpoints go straight to the run's executor over NATS.
      checkpoint: options.checkpoint ?? natsCheckpointer(() => connection as NatsConnection),
      sendEvents: (events) =>
        sendEventsOverNats({
          subject: Subjects.ingest,
          events,
          now: () => options.client.now(),
          request: async (payload, values) => {
            const h = natsHeaders();
            for (const [k, v] of Object.entries(values)) h.set(k, v);
            // Production gateways take events on NATS only with an event key, as over HTTP.
            const key = options.client.settings.eventKey;
            if (key) h.set(Headers.eventKey, key);
            const nc = connection as NatsConnection;
            return (await nc.request(Subjects.ingest, payload, { timeout: 10_000, headers: h })).data;
          },
        }),
    },
    FRAMEWORK,
  );
  const { client } = options;
  const heartbeatMs = checkOptions(options);
  const appId = client.id;
  const log = client.logger.child({ svc: "worker", appId });
  const servers = options.servers ?? client.settings.natsServers?.slice();
  const ownsConnection = options.nc === undefined;
  const nc =
    options.nc ??
    (await connect({
      name: `jetstep-worker:${appId}`,
      maxReconnectAttempts: -1,
      // Without it every request (checkpoints, events) builds an Error for its stack up front.
      noAsyncTraces: true,
      // A NATS user from the environment (infra/nats/auth.conf's `app-<id>`) gets its replies on
      // the inbox prefix that user may subscribe to.
      ...(client.settings.natsUser !== undefined
        ? { user: client.settings.natsUser, pass: client.settings.natsPass, inboxPrefix: `_INBOX_${appId}` }
        : {}),
      ...options.natsOptions,
      ...(servers === undefined ? {} : { servers }),
    }));
  connection = nc;
  const w = new WorkerImpl({ nc, ownsConnection, handle, appId, heartbeatMs, log, options });
  // Once the server has the subscription, calls from any connection reach this worker: resolving
  // earlier let a call sent right after `await worker(…)` find no responders.
  await nc.flush();
  return w;
}

function checkOptions(options: WorkerOptions): number {
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 10 || heartbeatMs > 60_000)
    throw new InvalidConfigError("heartbeatMs", "worker(): heartbeatMs must be an integer from 10 to 60000");
  if (options.nc !== undefined && options.servers !== undefined)
    throw new InvalidConfigError("servers", "worker(): pass either nc or servers, not both");
  const servers = options.servers;
  if (
    servers !== undefined &&
    !(typeof servers === "string" ? servers !== "" : Array.isArray(servers) && servers.length > 0)
  )
    throw new InvalidConfigError("servers", "worker(): servers must be a URL or a non-empty array of URLs");
  if (options.register !== undefined && typeof options.register !== "boolean")
    throw new InvalidConfigError("register", "worker(): register must be a boolean");
  const max = options.maxInFlight;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1))
    throw new InvalidConfigError("maxInFlight", "worker(): maxInFlight must be a positive integer");
  return heartbeatMs;
}

interface WorkerParts {
  nc: NatsConnection;
  ownsConnection: boolean;
  handle: ReturnType<typeof createRequestHandler>;
  appId: string;
  heartbeatMs: number;
  log: WorkerOptions["client"]["logger"];
  options: WorkerOptions;
}

class WorkerImpl implements WorkerHandle {
  readonly appId: string;
  readonly subject: string;
  readonly registered: Promise<RegistrationOutcome>;
  readonly #p: WorkerParts;
  readonly #calls: Subscription;
  readonly #syncs: Subscription | undefined;
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #registering: Promise<RegistrationOutcome> | undefined;
  #closing: Promise<void> | undefined;

  constructor(parts: WorkerParts) {
    this.#p = parts;
    this.appId = parts.appId;
    this.subject = Subjects.workerCall(parts.appId);
    this.#calls = parts.nc.subscribe(this.subject, {
      queue: Queues.worker,
      callback: (err, msg) => {
        if (err) parts.log.error({ err }, "call subscription failed");
        else this.#accept(msg);
      },
    });
    if (parts.options.register === false) {
      this.registered = Promise.resolve({ ok: true, modified: false });
    } else {
      this.#syncs = parts.nc.subscribe(Subjects.workerSync, { callback: () => void this.#register() });
      this.registered = this.#register();
    }
    parts.log.info({ subject: this.subject, queue: Queues.worker }, "NATS worker serving");
  }

  inFlight(): number {
    return this.#running.size;
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    const { nc, ownsConnection, log } = this.#p;
    this.#abort.abort();
    this.#syncs?.unsubscribe();
    // No new calls; calls already delivered are dispatched before drain() resolves.
    await this.#calls.drain().catch(() => {});
    await Promise.allSettled([...this.#running]);
    await this.#registering;
    if (ownsConnection) await nc.drain().catch(() => nc.close());
    else await nc.flush().catch(() => {});
    log.info({ subject: this.subject }, "NATS worker closed");
  }

  #register(): Promise<RegistrationOutcome> {
    if (this.#registering) return this.#registering;
    const { nc, options, log } = this.#p;
    const body = buildRegisterBody({
      appId: this.appId,
      appUrl: new URL(WorkerUrls.app(this.appId)),
      framework: FRAMEWORK,
      functions: options.functions as readonly JetstepFunction<never, unknown>[],
      runtimeType: "nats",
    });
    const running = registerOverNats({
      nc,
      body,
      framework: FRAMEWORK,
      signingKey: options.client.settings.signingKey,
      log,
      signal: this.#abort.signal,
    });
    this.#registering = running;
    void running.finally(() => {
      if (this.#registering === running) this.#registering = undefined;
    });
    return running;
  }

  #accept(msg: Msg): void {
    const reply = msg.reply;
    if (!reply) {
      this.#p.log.warn({ subject: msg.subject }, "call without a reply subject: nobody to answer, ignored");
      return;
    }
    const max = this.#p.options.maxInFlight;
    if (max !== undefined && this.#running.size >= max) {
      this.#publish(reply, busyHeaders());
      return;
    }
    const call = this.#serve(msg, reply).catch((err: unknown) =>
      this.#p.log.error({ err }, "could not answer a call"),
    );
    this.#running.add(call);
    void call.finally(() => this.#running.delete(call));
  }

  async #serve(msg: Msg, reply: string): Promise<void> {
    const { heartbeatMs, handle } = this.#p;
    const beat = () => this.#publish(reply, progressHeaders(heartbeatMs));
    // The first progress message at once: the executor learns the call arrived and the interval.
    beat();
    const timer = setInterval(beat, heartbeatMs);
    let answer: HttpAnswer;
    try {
      answer = await handle(callRequest(this.appId, msg.headers, msg.data));
    } finally {
      clearInterval(timer);
    }
    this.#answer(reply, answer);
  }

  #answer(reply: string, answer: HttpAnswer): void {
    try {
      this.#publishOrThrow(reply, answerHeaders(answer), answer.body);
    } catch (err) {
      if (!(err instanceof InvalidArgumentError)) throw err;
      // Too large for the server's max_payload: the step's output cannot travel; fail it clearly.
      const max = this.#p.nc.info?.max_payload;
      const message = `answer of ${Buffer.byteLength(answer.body)} bytes exceeds the NATS server's max_payload${max ? ` (${max} bytes)` : ""}; return less data from the step or raise max_payload`;
      this.#p.log.error({ status: answer.status }, message);
      const replacement = jsonAnswer(
        FRAMEWORK,
        400,
        { name: "OutputTooLargeError", message, stack: "" },
        { [Header.NoRetry]: "true" },
      );
      this.#publishOrThrow(reply, answerHeaders(replacement), replacement.body);
    }
  }

  #publish(subject: string, values: Record<string, string>, body = ""): void {
    try {
      this.#publishOrThrow(subject, values, body);
    } catch (err) {
      this.#p.log.warn({ err }, "could not send a progress message");
    }
  }

  #publishOrThrow(subject: string, values: Record<string, string>, body: string): void {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(values)) h.set(k, v);
    this.#p.nc.publish(subject, body, { headers: h });
  }
}
