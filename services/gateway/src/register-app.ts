/**
 * App registration, shared by `POST /fn/register` (HTTP SDKs) and `jetstep.register` (NATS
 * workers): the signing-key check, the schema, the semantic checks, and the FUNCTIONS bucket.
 * Invalid registrations are answered with the field at fault; the previous registration stays.
 */
import { createHash } from "node:crypto";
import {
  type AppRecord,
  type AppUrlPolicy,
  callUrlOf,
  formatIssues,
  RegisterRequestSchema,
} from "@jetstep/core";
import type { Registry } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { parseJson } from "./json-body.ts";
import { registrationProblem } from "./validate-registration.ts";

/** `signkey-<env>-<hex(sha256(hexDecode(rest)))>`, the bearer token SDKs send to the server. */
export function hashSigningKey(key: string): string {
  const m = /^(signkey-[^-]+-)(.*)$/.exec(key);
  const prefix = m?.[1] ?? "";
  const rest = m?.[2] ?? key;
  return prefix + createHash("sha256").update(Buffer.from(rest, "hex")).digest("hex");
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

/**
 * Validates and stores one registration, given its raw JSON body (the signing key is checked
 * first by the caller, see `unauthorizedRegistration`). Rejects with 400 naming the field
 * (`functions.0.triggers.0.expression: …`) or 413 when the record is too large for the bucket;
 * storage failures throw.
 */
export async function registerApp(text: string, deps: RegisterDeps): Promise<RegisterAnswer> {
  const invalid = (error: string, status: 400 | 413 = 400): RegisterAnswer => ({
    status,
    body: { status, error },
  });
  const json = parseJson(text);
  if (!json.ok) return invalid(json.error);
  const parsed = RegisterRequestSchema.safeParse(json.value);
  if (!parsed.success) return invalid(formatIssues(parsed.error));
  const reg = parsed.data;
  const problem = registrationProblem(reg);
  if (problem) return invalid(problem);
  // The app's URL and every function's call URL: calls go to the latter.
  if (deps.appUrls) {
    const refused = deps.appUrls.problem(reg.url);
    if (refused) return invalid(`url: ${refused}`);
    for (const [i, fn] of reg.functions.entries()) {
      const why = deps.appUrls.problem(callUrlOf(fn));
      if (why) return invalid(`functions[${i}].steps: ${why}`);
    }
  }
  // Production: a function stays with the app that registered it. Another app holding the signing
  // key cannot take its runs over by registering the same id; the operator removes the old app
  // first (`DELETE /v1/apps/:appId`). In dev an app may (renames while developing).
  if (deps.signingKey) {
    for (const [i, fn] of reg.functions.entries()) {
      const owner = deps.registry.getFunction(fn.id)?.app;
      if (owner && owner.appId !== reg.appName)
        return {
          status: 409,
          body: {
            status: 409,
            error: `functions[${i}].id: "${fn.id}" belongs to app "${owner.appId}" (${owner.url}); remove that app first (DELETE /v1/apps/${encodeURIComponent(owner.appId)})`,
          },
        };
    }
  }
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
