import { z } from "zod";
import { InvalidConfigError } from "./errors.ts";
import type { Logger } from "./logger.ts";

/** Options of `new Jetstep()`. */
export interface JetstepOptions {
  /** The app id; function wire ids are `<id>-<fnId>`. */
  id: string;
  /** Gateway URL. Default: env JETSTEP_BASE_URL, else INNGEST_BASE_URL, else http://localhost:8288. */
  baseUrl?: string;
  /** Event key for `send()`. Default: env JETSTEP_EVENT_KEY / INNGEST_EVENT_KEY, else `"dev"` in the URL. */
  eventKey?: string;
  /** When set, calls must carry a valid X-Inngest-Signature. Default: env JETSTEP_SIGNING_KEY / INNGEST_SIGNING_KEY. */
  signingKey?: string;
  /** Tried when `signingKey` does not verify (key rotation). Default: env …_SIGNING_KEY_FALLBACK. */
  signingKeyFallback?: string;
  /** Origin to advertise when syncing (e.g. behind a proxy). Default: env JETSTEP_SERVE_ORIGIN / INNGEST_SERVE_ORIGIN. */
  serveOrigin?: string;
  /**
   * NATS server URL(s) for `worker()`, comma-separated (e.g. `nats://n1:4222,nats://n2:4222`).
   * Default: env JETSTEP_NATS_URL, else NATS_URL, else nats.js's default (127.0.0.1:4222).
   */
  natsUrl?: string;
  /**
   * NATS user and password for `worker()` (a worker app's user in infra/nats/auth.conf, whose
   * replies come on the inbox prefix `_INBOX_<id>`). Default: env JETSTEP_NATS_USER /
   * JETSTEP_NATS_PASS. `worker({ natsOptions })` overrides them.
   */
  natsUser?: string;
  natsPass?: string;
  /** pino (or pino-compatible) logger. Default: pino at `info`. */
  logger?: Logger;
  /** Environment to read defaults from instead of `process.env` (tests, edge runtimes). */
  env?: Readonly<Record<string, string | undefined>>;
  /** `fetch` to use for the gateway (default: global fetch). */
  fetch?: typeof fetch;
  /** Clock in ms since epoch (default: Date.now); used for event `ts` and signature windows. */
  now?: () => number;
}

/** The resolved, frozen client settings. */
export interface ClientSettings {
  readonly id: string;
  readonly baseUrl: string;
  readonly eventKey: string | undefined;
  readonly signingKey: string | undefined;
  readonly signingKeyFallback: string | undefined;
  readonly serveOrigin: string | undefined;
  /** NATS servers for `worker()` (from `natsUrl`); undefined = nats.js's default. */
  readonly natsServers: readonly string[] | undefined;
  readonly natsUser: string | undefined;
  readonly natsPass: string | undefined;
}

export const DEFAULT_BASE_URL = "http://localhost:8288";

const url = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });
const optionsSchema = z.object({
  id: z
    .string()
    .min(1, { error: "must be a non-empty string" })
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: "may contain only letters, digits, '-', '_', '.'" }),
  baseUrl: url,
  eventKey: z.string().min(1).optional(),
  signingKey: z.string().min(1).optional(),
  signingKeyFallback: z.string().min(1).optional(),
  serveOrigin: url.optional(),
  natsUrl: z
    .string()
    .regex(/^\s*[^\s,]+(\s*,\s*[^\s,]+)*\s*$/, { error: "must be one URL or several, comma-separated" })
    .optional(),
  natsUser: z.string().min(1).optional(),
  natsPass: z.string().min(1).optional(),
});

/**
 * Resolves options against the environment — the only place the SDK reads env — and validates them.
 * Throws InvalidConfigError naming the field.
 */
export function resolveClientSettings(options: JetstepOptions): ClientSettings {
  const env = options.env ?? process.env;
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== "");
  const raw = {
    id: options.id,
    baseUrl: options.baseUrl ?? pick("JETSTEP_BASE_URL", "INNGEST_BASE_URL") ?? DEFAULT_BASE_URL,
    eventKey: options.eventKey ?? pick("JETSTEP_EVENT_KEY", "INNGEST_EVENT_KEY"),
    signingKey: options.signingKey ?? pick("JETSTEP_SIGNING_KEY", "INNGEST_SIGNING_KEY"),
    signingKeyFallback:
      options.signingKeyFallback ?? pick("JETSTEP_SIGNING_KEY_FALLBACK", "INNGEST_SIGNING_KEY_FALLBACK"),
    serveOrigin: options.serveOrigin ?? pick("JETSTEP_SERVE_ORIGIN", "INNGEST_SERVE_ORIGIN"),
    natsUrl: options.natsUrl ?? pick("JETSTEP_NATS_URL", "NATS_URL"),
    natsUser: options.natsUser ?? pick("JETSTEP_NATS_USER"),
    natsPass: options.natsPass ?? pick("JETSTEP_NATS_PASS"),
  };
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.map(String).join(".") || "options";
    throw new InvalidConfigError(field, `new Jetstep(): ${field}: ${issue?.message ?? "invalid"}`);
  }
  const d = parsed.data;
  return Object.freeze({
    id: d.id,
    baseUrl: d.baseUrl.replace(/\/+$/, ""),
    eventKey: d.eventKey,
    signingKey: d.signingKey,
    signingKeyFallback: d.signingKeyFallback,
    serveOrigin: d.serveOrigin,
    natsServers:
      d.natsUrl === undefined ? undefined : Object.freeze(d.natsUrl.split(",").map((u) => u.trim())),
    natsUser: d.natsUser,
    natsPass: d.natsPass,
  });
}
