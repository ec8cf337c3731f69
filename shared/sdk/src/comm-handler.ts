import { answerExecution, type HttpAnswer, jsonAnswer } from "./answer.ts";
import { type CallBody, parseCallBody } from "./call-schema.ts";
import { type Checkpointer, httpCheckpointer } from "./checkpoint.ts";
import { Jetstep } from "./client.ts";
import { BodyTooLargeError, InvalidCallError, InvalidConfigError } from "./errors.ts";
import { type ExecuteCallInput, executeCall } from "./execution.ts";
import { type FailureContext, type FunctionContext, JetstepFunction } from "./function.ts";
import { buildRegisterBody, syncApp } from "./register.ts";
import { serializeError, toError } from "./serialize-error.ts";
import { type ReceivedBody, SeenSignatures, verifySignature } from "./signature.ts";
import type { EventInput } from "./step-tools.ts";
import { withCallTrace } from "./tracing.ts";
import { SDK_IDENT, SDK_VERSION } from "./version.ts";
import { DISCOVERY_STEP_ID, Header, type JetstepEvent, Query } from "./wire.ts";

/** Options shared by every `serve` flavour. */
export interface ServeOptions {
  client: Jetstep;
  // biome-ignore lint/suspicious/noExplicitAny: functions of any event/result type may be served together
  functions: readonly JetstepFunction<any, any>[];
  /** Path to advertise when syncing (default: the path the PUT arrived on). */
  servePath?: string;
  /** Origin to advertise when syncing (default: client's serveOrigin, else the request's origin). */
  serveOrigin?: string;
  /** Largest request body read from the stream, in bytes (default 64 MiB); larger → 413. */
  maxBodyBytes?: number;
  /** How long to wait for a requested step before answering "not found" (default 10 s, as the official SDK). */
  stepNotFoundTimeoutMs?: number;
  /**
   * How steps run in one call are reported (checkpoint.ts): by default over HTTP to the client's
   * base URL (NATS workers: over NATS); `false` runs one step per call, as SDKs before checkpoints.
   */
  checkpoint?: Checkpointer | false;
  /** How long one call keeps running steps before handing the next back (default 10 s). */
  maxRuntimeMs?: number;
  /** How `step.sendEvent` sends (default: `client.send`, over HTTP; NATS workers send over NATS). */
  sendEvents?: (events: EventInput[]) => Promise<{ ids: string[] }>;
}

/** A request as an adapter presents it. */
export interface IncomingRequest {
  method: string;
  /** Absolute URL as received (origin from Host / X-Forwarded-Proto). */
  url: URL;
  header(name: string): string | undefined;
  /** Reads the body; called only for POST. */
  readBody(): Promise<ReceivedBody>;
}

export type RequestHandler = (req: IncomingRequest) => Promise<HttpAnswer>;

const DEFAULT_STEP_NOT_FOUND_TIMEOUT_MS = 10_000;

type Entry = { fn: JetstepFunction<never, unknown>; kind: "main" | "failure" };

/** What the handler's routes share: the validated options and the state kept across calls. */
interface Served {
  options: ServeOptions;
  client: Jetstep;
  framework: string;
  /** By wire id: each function's main handler and, under its own id, its failure handler. */
  entries: Map<string, Entry>;
  functions: readonly JetstepFunction<never, unknown>[];
  stepNotFoundTimeoutMs: number;
  checkpoint: Checkpointer | undefined;
  seenSignatures: SeenSignatures;
}

/**
 * The framework-independent serve handler: GET introspects, PUT syncs, POST executes. Validates
 * options now (throws InvalidConfigError for a foreign client, duplicate ids, functions of another
 * app). The returned handler never throws; unexpected failures become 500 answers.
 */
export function createRequestHandler(options: ServeOptions, framework: string): RequestHandler {
  const { client } = options;
  if (!(client instanceof Jetstep))
    throw new InvalidConfigError("client", "serve(): client must be a Jetstep instance");
  if (!Array.isArray(options.functions))
    throw new InvalidConfigError("functions", "serve(): functions must be an array");
  const served: Served = {
    options,
    client,
    framework,
    entries: indexFunctions(options.functions, client.id),
    functions: options.functions as readonly JetstepFunction<never, unknown>[],
    stepNotFoundTimeoutMs: options.stepNotFoundTimeoutMs ?? DEFAULT_STEP_NOT_FOUND_TIMEOUT_MS,
    checkpoint:
      options.checkpoint === false
        ? undefined
        : (options.checkpoint ?? httpCheckpointer(client.baseUrl, client.settings.signingKey)),
    seenSignatures: new SeenSignatures(),
  };

  return async (req) => {
    try {
      switch (req.method.toUpperCase()) {
        case "GET":
          return introspect(served);
        case "PUT":
          return await sync(served, req);
        case "POST":
          return await execute(served, req);
        default:
          return jsonAnswer(framework, 405, { message: "Method not allowed" });
      }
    } catch (error) {
      if (error instanceof BodyTooLargeError) return jsonAnswer(framework, 413, { message: error.message });
      client.logger.error({ err: error, method: req.method }, "serve handler failed");
      return jsonAnswer(framework, 500, { type: "internal", ...serializeError(error) });
    }
  };
}

/** The served functions by wire id; throws InvalidConfigError for a foreign or duplicate one. */
function indexFunctions(functions: ServeOptions["functions"], appId: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  functions.forEach((fn, i) => {
    if (!(fn instanceof JetstepFunction))
      throw new InvalidConfigError(
        `functions.${i}`,
        `serve(): functions[${i}] is not a function from createFunction()`,
      );
    if (fn.appId !== appId) {
      throw new InvalidConfigError(
        `functions.${i}`,
        `serve(): function "${fn.id}" belongs to app "${fn.appId}", not "${appId}"`,
      );
    }
    for (const [id, kind] of [
      [fn.wireId, "main"],
      [fn.failureWireId, "failure"],
    ] as const) {
      if (id === undefined) continue;
      if (entries.has(id))
        throw new InvalidConfigError(`functions.${i}`, `serve(): duplicate function id "${id}"`);
      entries.set(id, { fn: fn as JetstepFunction<never, unknown>, kind });
    }
  });
  return entries;
}

/** GET: what this app is and serves. */
function introspect({ client, framework, entries }: Served): HttpAnswer {
  return jsonAnswer(framework, 200, {
    app_id: client.id,
    function_count: entries.size,
    has_event_key: client.settings.eventKey !== undefined,
    has_signing_key: client.settings.signingKey !== undefined,
    mode: client.settings.signingKey ? "cloud" : "dev",
    schema_version: "2024-05-24",
    sdk: SDK_IDENT,
    sdk_language: "js",
    sdk_version: SDK_VERSION,
    framework,
  });
}

/** PUT: registers the app with Jetstep. */
async function sync(
  { options, client, framework, functions }: Served,
  req: IncomingRequest,
): Promise<HttpAnswer> {
  const configured = options.serveOrigin ?? client.settings.serveOrigin;
  // With a signing key (production) the URL the app registers is configuration, never the
  // request's Host header: anyone can PUT the app, and a forged Host would send every later
  // call, with event data and step results, to the forger.
  if (!configured && client.settings.signingKey) {
    const message =
      "serveOrigin is not set: with a signing key, the app registers only the origin configured (serveOrigin, or JETSTEP_SERVE_ORIGIN / INNGEST_SERVE_ORIGIN), never the request's Host";
    client.logger.error({}, message);
    return jsonAnswer(framework, 500, { message, modified: false });
  }
  const origin = configured ?? req.url.origin;
  const appUrl = new URL(options.servePath ?? req.url.pathname, origin);
  const body = buildRegisterBody({ appId: client.id, appUrl, framework, functions });
  const deployId = req.url.searchParams.get(Query.DeployId) ?? undefined;
  const outcome = await syncApp({
    client,
    body,
    framework,
    deployId: deployId === "undefined" ? undefined : deployId,
  });
  return jsonAnswer(framework, outcome.status, outcome.body, { [Header.SyncKind]: "out_of_band" });
}

/** POST: runs a call of function `fnId` (after its signature is checked, with a signing key). */
async function execute(served: Served, req: IncomingRequest): Promise<HttpAnswer> {
  const { options, client, framework } = served;
  const fnId = req.url.searchParams.get(Query.FnId);
  if (!fnId) return invalid(framework, new InvalidCallError("fnId", "Missing fnId query parameter"));
  const received = await req.readBody();
  const refused = checkSignature(served, req, fnId, received);
  if (refused) return refused;
  let call: CallBody;
  try {
    call = parseCallBody(decodeBody(received));
  } catch (error) {
    if (error instanceof InvalidCallError) return invalid(framework, error);
    throw error;
  }
  const entry = served.entries.get(fnId);
  if (!entry) {
    return jsonAnswer(
      framework,
      500,
      {
        name: "Error",
        message: `Function "${fnId}" was not found in this app; is the app synced correctly?`,
      },
      { [Header.NoRetry]: "false" },
    );
  }
  const rawStepId = req.url.searchParams.get(Query.StepId) || req.header(Header.StepId) || DISCOVERY_STEP_ID;
  const requestedStepId = rawStepId === DISCOVERY_STEP_ID ? undefined : rawStepId;
  const logger = client.logger.child({ runId: call.ctx.run_id, fnId });
  const checkpoint = served.checkpoint;
  // The call's trace context is active while the function runs: the app's spans join the step's.
  const result = await withCallTrace(
    (name) => req.header(name),
    () =>
      executeCall({
        call,
        requestedStepId,
        compensateStepId: req.url.searchParams.get("compensate") ?? undefined,
        logger,
        appId: client.id,
        sendEvents: options.sendEvents ?? ((list) => client.send(list)),
        stepNotFoundTimeoutMs: served.stepNotFoundTimeoutMs,
        ...(checkpoint ? { checkpoint } : {}),
        ...(options.maxRuntimeMs !== undefined ? { maxRuntimeMs: options.maxRuntimeMs } : {}),
        invokeHandler: invokerOf(entry, fnId, call),
      }),
  );
  return answerExecution(framework, result);
}

/**
 * With a signing key, the 401 answer for a call whose signature is wrong or was already used (a
 * replay); undefined when the call may go on. Without a signing key (dev) every call may.
 */
function checkSignature(
  { options, client, framework, seenSignatures }: Served,
  req: IncomingRequest,
  fnId: string,
  received: ReceivedBody,
): HttpAnswer | undefined {
  const { signingKey, signingKeyFallback } = client.settings;
  if (!signingKey) return undefined;
  const keys = signingKeyFallback ? [signingKey, signingKeyFallback] : [signingKey];
  // Signed for the URL the app was registered under: the path it serves at, the query as sent.
  const signedUrl = new URL(req.url);
  if (options.servePath) signedUrl.pathname = options.servePath;
  const check = verifySignature({
    header: req.header(Header.CallSignature),
    method: req.method,
    url: signedUrl,
    body: received,
    keys,
    nowMs: client.now(),
  });
  if (!check.ok) {
    client.logger.warn({ fnId, reason: check.reason }, "rejected call: bad signature");
    return jsonAnswer(framework, 401, { message: "Unauthorized", error: check.reason });
  }
  if (!seenSignatures.admit(req.header(Header.CallSignature) ?? "", client.now())) {
    client.logger.warn({ fnId }, "rejected call: its signature was already used (a replay)");
    return jsonAnswer(framework, 401, {
      message: "Unauthorized",
      error: "signature already used: a call is accepted once",
    });
  }
  return undefined;
}

/** Calls the entry's handler (or its function's onFailure) with the call's context and the tools. */
function invokerOf(entry: Entry, fnId: string, call: CallBody): ExecuteCallInput["invokeHandler"] {
  const event = call.event as unknown as JetstepEvent;
  const events = (call.events?.length ? call.events : [call.event]) as unknown as JetstepEvent[];
  return ({ step, logger, defer }) => {
    const ctx: FunctionContext<Record<string, unknown>> = {
      event,
      events,
      step,
      defer,
      runId: call.ctx.run_id,
      attempt: call.ctx.attempt,
      logger,
    };
    if (entry.kind === "failure") {
      const onFailure = entry.fn.config.onFailure;
      if (!onFailure) throw new Error(`Function "${fnId}" has no onFailure handler`);
      return onFailure({ ...ctx, error: failureError(event) } as FailureContext);
    }
    return (entry.fn.handler as (c: FunctionContext<Record<string, unknown>>) => unknown)(ctx);
  };
}

function decodeBody(body: ReceivedBody): unknown {
  switch (body.kind) {
    case "none":
      throw new InvalidCallError("(body)", "Invalid call body: missing");
    case "parsed":
      if (typeof body.value === "string") return decodeBody({ kind: "raw", text: body.value });
      if (Buffer.isBuffer(body.value)) return decodeBody({ kind: "raw", text: body.value.toString("utf8") });
      return body.value;
    case "raw":
      if (body.text.trim() === "") throw new InvalidCallError("(body)", "Invalid call body: missing");
      try {
        return JSON.parse(body.text);
      } catch (cause) {
        throw new InvalidCallError(
          "(body)",
          `Invalid call body: not JSON (${cause instanceof Error ? cause.message : String(cause)})`,
        );
      }
    default: {
      const _exhaustive: never = body;
      return _exhaustive;
    }
  }
}

function invalid(framework: string, error: InvalidCallError): HttpAnswer {
  return jsonAnswer(
    framework,
    400,
    { name: error.name, code: error.code, field: error.field, message: error.message },
    { [Header.NoRetry]: "true" },
  );
}

function failureError(event: JetstepEvent): Error {
  const raw = (event.data as { error?: unknown } | undefined)?.error;
  return toError(raw ?? "unknown failure");
}
