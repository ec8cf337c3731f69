import {
  type AppRecord,
  type AppUrlPolicy,
  callUrlOf,
  formatIssues,
  hashSigningKey,
  type RegisterRequest,
  RegisterRequestSchema,
} from "@jetstep/core";
import type { Registry } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import type { AppHolds } from "./app-sync.ts";
import { parseJson } from "./json-body.ts";
import { checkSyncToken, syncStartedAt } from "./sync-token.ts";

function withoutDeployId(url: string): string {
  try {
    const u = new URL(url);
    if (!u.searchParams.has("deployId")) return url;
    u.searchParams.delete("deployId");
    return u.toString();
  } catch {
    return url;
  }
}

/** Whether two app URLs name the same place (the query aside). */
function sameAppUrl(a: string, b: string): boolean {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    // Not `origin`: it is "null" for nats:// URLs, which would all look alike.
    return x.protocol === y.protocol && x.host === y.host && x.pathname === y.pathname;
  } catch {
    return a === b;
  }
}

export interface RegisterDeps {
  registry: Registry;
  log: Logger;
  now: () => number;
  /** Production: only apps that hold this key may register. */
  signingKey?: string | undefined;
  /** Which app URLs may register (`--allow-app-url`). */
  appUrls?: AppUrlPolicy;
  /** The largest registration the FUNCTIONS bucket takes as one value (the server's max_payload). */
  maxRecordBytes: () => number;
  /** Which URL keeps an app registered from two (see `AppHolds`); absent: the last one wins. */
  holds?: AppHolds;
}

/** The answer to a registration: its HTTP status and JSON body. */
export type RegisterAnswer =
  | { status: 200; body: { ok: true; modified: boolean; status: 200 } }
  | { status: 400 | 401 | 409 | 413; body: { status: 400 | 401 | 409 | 413; error: string } };

/**
 * With a signing key, only apps that hold it may register (`Authorization: Bearer <hashed key>`,
 * as SDKs send): the 401 answer for a request without it, else undefined. Checked before the
 * body is read.
 */
export function unauthorizedRegistration(
  authorization: string | undefined,
  signingKey: string | undefined,
): RegisterAnswer | undefined {
  if (!signingKey || authorization === `Bearer ${hashSigningKey(signingKey)}`) return undefined;
  const error = "authorization: missing or wrong signing key (Authorization: Bearer <hashed signing key>)";
  return { status: 401, body: { status: 401, error } };
}

/** A refusal of the registration: 400 (naming the field) or 413. */
function invalid(error: string, status: 400 | 413 = 400): RegisterAnswer {
  return { status, body: { status, error } };
}

/**
 * Validates and stores one registration, given its raw JSON body (the signing key is checked
 * first by the caller, see `unauthorizedRegistration`). Rejects with 400 naming the field
 * (`functions.0.triggers.0.expression: …`) or 413 when the record is too large for the bucket;
 * storage failures throw.
 */
export async function registerApp(
  text: string,
  deps: RegisterDeps,
  queryDeployId?: string,
): Promise<RegisterAnswer> {
  const json = parseJson(text);
  if (!json.ok) return invalid(json.error);
  const parsed = RegisterRequestSchema.safeParse(json.value);
  if (!parsed.success) return invalid(formatIssues(parsed.error));
  const reg = withoutDeployIds(parsed.data);
  const refused = deps.appUrls ? urlRefused(reg, deps.appUrls) : undefined;
  if (refused) return invalid(refused);
  if (deps.signingKey) {
    const bodyDeployId = (json.value as { deployId?: unknown }).deployId;
    const deployId = queryDeployId ?? (typeof bodyDeployId === "string" ? bodyDeployId : undefined);
    const unsynced = await unsyncedUrl(reg, deps.signingKey, deployId, deps);
    if (unsynced) return unsynced;
  }
  const conflict = functionOwnedElsewhere(reg, deps) ?? (await heldElsewhere(reg.appName, reg.url, deps));
  if (conflict) return conflict;
  const record: AppRecord = {
    appId: reg.appName,
    url: reg.url,
    ...(reg.framework ? { framework: reg.framework } : {}),
    ...(reg.sdk ? { sdk: reg.sdk } : {}),
    functions: reg.functions,
    syncedAt: deps.now(),
  };
  const size = Buffer.byteLength(JSON.stringify(record));
  const max = deps.maxRecordBytes();
  if (size > max) {
    return invalid(
      `registration: ${size} bytes as stored; at most ${max} (it is one KV value, within the NATS server's max_payload)`,
      413,
    );
  }
  const modified = await deps.registry.put(record);
  deps.log[modified ? "info" : "debug"](
    { appId: record.appId, functions: record.functions.length, modified },
    "app synced",
  );
  return { status: 200, body: { ok: true, modified, status: 200 } };
}

/**
 * The registration with our `?deployId=` sync token taken out of its URLs: SDKs build their URL
 * from the sync request, the token included, but it is not part of it.
 */
function withoutDeployIds(reg: RegisterRequest): RegisterRequest {
  return {
    ...reg,
    url: withoutDeployId(reg.url),
    functions: reg.functions.map((fn) => ({
      ...fn,
      steps: Object.fromEntries(
        Object.entries(fn.steps).map(([k, st]) => [
          k,
          { ...st, runtime: { ...st.runtime, url: withoutDeployId(st.runtime.url) } },
        ]),
      ),
    })),
  };
}

/**
 * Why the policy refuses the app's URL or a function's call URL (calls go to the latter), naming
 * the field; undefined when it takes them all.
 */
function urlRefused(reg: RegisterRequest, appUrls: AppUrlPolicy): string | undefined {
  const refused = appUrls.problem(reg.url);
  if (refused) return `url: ${refused}`;
  for (const [i, fn] of reg.functions.entries()) {
    const why = appUrls.problem(callUrlOf(fn));
    if (why) return `functions[${i}].steps: ${why}`;
  }
  return undefined;
}

/**
 * Production: an app registers the URL Jetstep synced it at, and moves to another URL only when
 * Jetstep synced that one (the operator's `-u` or `POST /v1/apps`). Otherwise a `PUT` to the app
 * with a forged Host (or X-Forwarded-Proto) would move its calls, event data and step memos to
 * whatever URL the app then believes it has. The refusal (400 or 409), or undefined.
 */
async function unsyncedUrl(
  reg: RegisterRequest,
  signingKey: string,
  deployId: string | undefined,
  deps: RegisterDeps,
): Promise<RegisterAnswer | undefined> {
  const token = checkSyncToken(signingKey, deployId, reg.url, deps.now());
  if (token === "other-url")
    return invalid(
      `url: the app was synced at another URL than it registers (${reg.url}); configure its serve host (official SDK: serveHost or INNGEST_SERVE_HOST; ours: serveOrigin or JETSTEP_SERVE_ORIGIN)`,
    );
  if (token === "expired") return invalid("deployId: the sync this registration answers expired; sync again");
  // The URL was removed while this sync was under way: the removal stands.
  const startedAt = syncStartedAt(deployId);
  if (token === "valid" && startedAt !== undefined && (await deps.holds?.removedSince(reg.url, startedAt)))
    return {
      status: 409,
      body: {
        status: 409,
        error: `url: ${reg.url} was removed while the sync this registration answers was under way; add it again to register it (POST /v1/apps)`,
      },
    };
  const current = deps.registry.listApps().find((a) => a.appId === reg.appName);
  if (token === "none" && current && sameAppUrl(current.url, reg.url) === false)
    return {
      status: 409,
      body: {
        status: 409,
        error: `url: app "${reg.appName}" is registered at ${current.url}; it moves to ${reg.url} only when Jetstep syncs that URL (jetstep start -u, or POST /v1/apps)`,
      },
    };
  return undefined;
}

/**
 * Production: a function stays with the app that registered it. Another app holding the signing
 * key cannot take its runs over by registering the same id; the operator removes the old app first
 * (`DELETE /v1/apps/:appId`). In dev an app may (renames while developing). The 409, or undefined.
 */
function functionOwnedElsewhere(
  reg: { appName: string; functions: { id: string }[] },
  deps: RegisterDeps,
): RegisterAnswer | undefined {
  if (!deps.signingKey) return undefined;
  for (const [i, fn] of reg.functions.entries()) {
    const owner = deps.registry.getFunction(fn.id)?.app;
    if (owner && owner.appId !== reg.appName) {
      const error = `functions[${i}].id: "${fn.id}" belongs to app "${owner.appId}" (${owner.url}); remove that app first (DELETE /v1/apps/${encodeURIComponent(owner.appId)})`;
      return { status: 409, body: { status: 409, error } };
    }
  }
  return undefined;
}

/**
 * The refusal (409) of a registration from `url` when the app is registered at another URL that
 * still answers its syncs (which then keeps it; `url` is put on standby), else undefined.
 */
async function heldElsewhere(
  appId: string,
  url: string,
  deps: RegisterDeps,
): Promise<RegisterAnswer | undefined> {
  const current = deps.registry.listApps().find((a) => a.appId === appId);
  if (!deps.holds || !current || sameAppUrl(current.url, url) || !(await deps.holds.keeps(current.url, url)))
    return undefined;
  await deps.holds.standby(url, appId, current.url);
  deps.log.debug({ appId, url, holder: current.url }, "app registration on standby");
  const error = `url: app "${appId}" is served at ${current.url}, which answers its syncs: ${url} takes it over when that URL stops answering or is removed (DELETE /v1/apps?url=${encodeURIComponent(current.url)}), or when ${url} is synced by hand (POST /v1/apps/sync)`;
  return { status: 409, body: { status: 409, error } };
}
