import type { Jetstep } from "./client.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { FAILURE_SUFFIX, type JetstepFunction } from "./function.ts";
import { DEFAULT_RETRIES } from "./function-config.ts";
import { hashSigningKey } from "./signature.ts";
import { SDK_IDENT } from "./version.ts";
import { DISCOVERY_STEP_ID, Header, InternalEvent, Query } from "./wire.ts";

/** One function in the register body (docs/PROTOCOL.md, "Registration"). */
export interface RegisterFunction {
  id: string;
  name: string;
  triggers: ({ event: string; expression?: string } | { cron: string; jitter?: string | number })[];
  steps: {
    step: {
      id: string;
      name: string;
      runtime: { type: RuntimeType; url: string };
      retries: { attempts: number };
    };
  };
  [flowControl: string]: unknown;
}

/** How the executor reaches a function: HTTP POST, or a NATS request to a worker (`nats://<appId>`). */
export type RuntimeType = "http" | "nats";

/** The body the app POSTs to `/fn/register`. */
export interface RegisterBody {
  url: string;
  deployType: "ping";
  framework: string;
  appName: string;
  sdk: string;
  v: "0.1";
  functions: RegisterFunction[];
}

const PASS_THROUGH = [
  "concurrency",
  "throttle",
  "rateLimit",
  "debounce",
  "priority",
  "batchEvents",
  "idempotency",
  "singleton",
  "timeouts",
  "compensateOnCancel",
] as const;

/**
 * Builds the register body for `functions` served at `appUrl` (its query string is dropped);
 * `runtimeType` (default "http") is what each function's step advertises.
 */
export function buildRegisterBody(args: {
  appId: string;
  appUrl: URL;
  framework: string;
  functions: readonly JetstepFunction<never, unknown>[];
  runtimeType?: RuntimeType;
}): RegisterBody {
  const runtimeType = args.runtimeType ?? "http";
  const url = new URL(args.appUrl.href);
  url.search = "";
  url.hash = "";
  const functions: RegisterFunction[] = [];
  for (const fn of args.functions) {
    const config = fn.config;
    const entry: RegisterFunction = {
      id: fn.wireId,
      name: config.name ?? config.id,
      triggers: fn.triggers.map((t) =>
        "cron" in t
          ? t.jitter === undefined
            ? { cron: t.cron }
            : { cron: t.cron, jitter: t.jitter }
          : t.if === undefined
            ? { event: t.event }
            : { event: t.event, expression: t.if },
      ),
      steps: stepsFor(url, fn.wireId, config.retries ?? DEFAULT_RETRIES, runtimeType),
    };
    for (const key of PASS_THROUGH) if (config[key] !== undefined) entry[key] = config[key];
    if (config.cancelOn) {
      entry.cancel = config.cancelOn.map((c) => {
        const out: Record<string, unknown> = { event: c.event };
        if (c.timeout !== undefined) out.timeout = formatDuration(parseDuration(c.timeout));
        if (c.match) out.if = `event.${c.match} == async.${c.match}`;
        else if (c.if) out.if = c.if;
        return out;
      });
    }
    functions.push(entry);
    if (config.onFailure) {
      const id = `${fn.wireId}${FAILURE_SUFFIX}`;
      functions.push({
        id,
        name: `${entry.name} (failure)`,
        triggers: [
          { event: InternalEvent.FunctionFailed, expression: `event.data.function_id == '${fn.wireId}'` },
        ],
        steps: stepsFor(url, id, 1, runtimeType),
      });
    }
  }
  return {
    url: url.href,
    deployType: "ping",
    framework: args.framework,
    appName: args.appId,
    sdk: SDK_IDENT,
    v: "0.1",
    functions,
  };
}

function stepsFor(
  appUrl: URL,
  wireId: string,
  attempts: number,
  runtimeType: RuntimeType,
): RegisterFunction["steps"] {
  const stepUrl = new URL(appUrl.href);
  stepUrl.searchParams.set(Query.FnId, wireId);
  stepUrl.searchParams.set(Query.StepId, DISCOVERY_STEP_ID);
  return {
    step: {
      id: DISCOVERY_STEP_ID,
      name: DISCOVERY_STEP_ID,
      runtime: { type: runtimeType, url: stepUrl.href },
      retries: { attempts },
    },
  };
}

/** Outcome of a sync, ready to be the PUT answer. */
export interface SyncOutcome {
  status: number;
  body: { message: string; modified: boolean };
}

/**
 * POSTs the register body to `${baseUrl}/fn/register` (with `deployId` when given) and maps the
 * gateway's reply: 2xx → 200 `{message:"Successfully registered", modified}`; otherwise the gateway's
 * status (or its body's `status`) and `error`; unreachable → 500. Never throws.
 */
export async function syncApp(args: {
  client: Jetstep;
  body: RegisterBody;
  framework: string;
  deployId?: string;
}): Promise<SyncOutcome> {
  const { client } = args;
  const target = new URL(`${client.baseUrl}/fn/register`);
  if (args.deployId) target.searchParams.set(Query.DeployId, args.deployId);
  const headers: Record<string, string> = {
    [Header.ContentType]: "application/json",
    [Header.Sdk]: SDK_IDENT,
    [Header.Framework]: args.framework,
    [Header.SyncKind]: "out_of_band",
  };
  const signingKey = client.settings.signingKey;
  if (signingKey) headers[Header.Authorization] = `Bearer ${hashSigningKey(signingKey)}`;
  let res: Response;
  try {
    res = await client.fetch(target.href, { method: "POST", headers, body: JSON.stringify(args.body) });
  } catch (cause) {
    const message = `Failed to register with ${target.href}: ${cause instanceof Error ? cause.message : String(cause)}`;
    client.logger.error({ err: cause, url: target.href }, "sync failed");
    return { status: 500, body: { message, modified: false } };
  }
  const text = await res.text();
  let reply: { status?: unknown; error?: unknown; modified?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === "object" && parsed !== null) reply = parsed as typeof reply;
  } catch {
    // not JSON: fall back to the HTTP status and raw text below
  }
  const modified = reply.modified === true;
  if (res.ok && reply.error === undefined) {
    client.logger.debug({ url: target.href, modified, functions: args.body.functions.length }, "synced");
    return { status: 200, body: { message: "Successfully registered", modified } };
  }
  const status =
    typeof reply.status === "number" && reply.status >= 400 ? reply.status : res.ok ? 500 : res.status;
  const message =
    typeof reply.error === "string" ? reply.error : text.slice(0, 500) || `register answered ${res.status}`;
  client.logger.error({ url: target.href, status: res.status, message }, "sync rejected");
  return { status, body: { message, modified } };
}
