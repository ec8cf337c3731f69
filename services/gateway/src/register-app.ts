/**
 * App registration, shared by `POST /fn/register` (HTTP SDKs) and `jetstep.register` (NATS
 * workers): the signing-key check, the schema, the semantic checks, and the FUNCTIONS bucket.
 * Invalid registrations are answered with the field at fault; the previous registration stays.
 */
import { createHash } from "node:crypto";
import { type AppRecord, formatIssues, RegisterRequestSchema } from "@jetstep/core";
import type { Registry } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
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
}

/** The answer to a registration: its HTTP status and JSON body. */
export type RegisterAnswer =
  | { status: 200; body: { ok: true; modified: boolean; status: 200 } }
  | { status: 400 | 401; body: { status: 400 | 401; error: string } };

/**
 * Validates and stores one registration. `authorization` is the request's Authorization header
 * (checked only with a signing key), `text` its raw JSON body. Rejects with 401 (wrong key) or
 * 400 naming the field (`functions.0.triggers.0.expression: …`); storage failures throw.
 */
export async function registerApp(
  request: { authorization: string | undefined; text: string },
  deps: RegisterDeps,
): Promise<RegisterAnswer> {
  // With a signing key, only apps that hold it may register (Bearer <hashed key>, as SDKs send).
  if (deps.signingKey && request.authorization !== `Bearer ${hashSigningKey(deps.signingKey)}`) {
    return {
      status: 401,
      body: {
        status: 401,
        error: "missing or wrong signing key (Authorization: Bearer <hashed signing key>)",
      },
    };
  }
  const invalid = (error: string): RegisterAnswer => ({ status: 400, body: { status: 400, error } });
  let body: unknown;
  try {
    body = JSON.parse(request.text);
  } catch (e) {
    return invalid(`invalid JSON: ${(e as Error).message}`);
  }
  const parsed = RegisterRequestSchema.safeParse(body);
  if (!parsed.success) return invalid(formatIssues(parsed.error));
  const reg = parsed.data;
  const problem = registrationProblem(reg);
  if (problem) return invalid(problem);
  const record: AppRecord = {
    appId: reg.appName,
    url: reg.url,
    ...(reg.framework ? { framework: reg.framework } : {}),
    ...(reg.sdk ? { sdk: reg.sdk } : {}),
    functions: reg.functions,
    syncedAt: deps.now(),
  };
  const modified = await deps.registry.put(record);
  deps.log[modified ? "info" : "debug"](
    { appId: record.appId, functions: record.functions.length, modified },
    "app synced",
  );
  return { status: 200, body: { ok: true, modified, status: 200 } };
}
