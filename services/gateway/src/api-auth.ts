/**
 * Who may use the gateway's routes. Checked on every request before its body is read:
 *
 * - Open to all, each proving itself its own way: `POST /e/:key` (an event key), `/fn/register`
 *   and `POST /v1/checkpoint/…` (the signing key), and the UI's static files (they hold no data:
 *   the UI asks for a key before it reads anything).
 * - Everything else needs `Authorization: Bearer <credential>` once any credential is configured
 *   (`jetstep start` always has the signing key): an API key (`--api-key`: read and operate), a
 *   read-only API key (`--read-api-key`: GET only), or the signing key itself (raw or hashed, as
 *   Inngest's REST API takes it). Without one: 401; a read-only key on anything else: 403.
 * - Browsers: a request whose `Origin` is another site is refused (403) whatever it carries (but
 *   `POST /e/:key` from the `--cors-origin` sites, which get CORS headers), so a
 *   page the developer visits cannot drive `jetstep dev`; without an `Origin`, a write whose
 *   `Sec-Fetch-Site` or `Referer` names another site is refused too, and a multipart body (what
 *   only a form sends) gets 415. When `jetstep dev` (no credentials) listens on loopback only, the
 *   `Host` must be a loopback name (a DNS-rebound name is refused).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { hashSigningKey } from "@jetstep/core";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export interface ApiAuthConfig {
  /** Keys that may read and operate. */
  apiKeys?: string[];
  /** Keys that may only read (GET). */
  readApiKeys?: string[];
  /** The signing key: also a read-and-operate credential (as Inngest's REST API accepts it). */
  signingKey?: string;
  /** The address the gateway listens on: loopback-only means Host must be a loopback name. */
  host?: string;
  /**
   * Browser origins whose pages may send events (`POST /e/:key`, which the event key guards):
   * answered with CORS headers, preflight included. Nothing else is open to them.
   */
  corsOrigins?: string[];
}

type Access = "open" | "read" | "operate";

/** Routes that prove the caller themselves, and the UI's static files. */
function accessOf(method: string, path: string): Access {
  if (method === "POST" && path.startsWith("/e/")) return "open";
  if (path === "/fn/register") return "open";
  if (method === "POST" && (path === "/v1/checkpoint" || path.startsWith("/v1/checkpoint/"))) return "open";
  // A durable endpoint's output and stream: their token is the credential.
  if (method === "GET" && isTokenRoute(path)) return "open";
  if ((method === "GET" || method === "HEAD") && (path === "/" || path.startsWith("/ui/"))) return "open";
  return method === "GET" || method === "HEAD" ? "read" : "operate";
}

/** Routes a durable endpoint's caller follows, guarded by the run's token (any origin may). */
const isTokenRoute = (path: string): boolean =>
  path.startsWith("/v1/http/runs/") || path === "/v1/realtime/sse";

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** Constant-time membership of `token` in `keys` (compared by digest, so lengths do not leak). */
function holds(keys: Buffer[], token: Buffer): boolean {
  let found = false;
  for (const k of keys) if (timingSafeEqual(k, token)) found = true;
  return found;
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** The host part of a Host header (`name:port`, `[v6]:port`). */
function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

const isLoopbackName = (name: string): boolean =>
  LOOPBACK_HOSTS.has(name.toLowerCase()) || name.toLowerCase().endsWith(".localhost");

export function isLoopbackBind(host: string | undefined): boolean {
  return host !== undefined && (host === "localhost" || host === "::1" || host.startsWith("127."));
}

/** Whether a request needs a credential at all: only when some credential is configured. */
export function authRequired(config: ApiAuthConfig): boolean {
  return (config.apiKeys?.length ?? 0) + (config.readApiKeys?.length ?? 0) > 0 || !!config.signingKey;
}

/** What an `Authorization` header's credential allows. */
export type Credential = "full" | "read" | "missing" | "unknown";

/** Checks `Authorization: Bearer <credential>` against the configured keys (in constant time). */
export function credentialCheck(config: ApiAuthConfig): (authorization: string | undefined) => Credential {
  const full = [
    ...(config.apiKeys ?? []),
    ...(config.signingKey ? [config.signingKey, hashSigningKey(config.signingKey)] : []),
  ].map(digest);
  const readOnly = (config.readApiKeys ?? []).map(digest);
  return (auth) => {
    const token = typeof auth === "string" && /^Bearer /i.test(auth) ? auth.slice(7).trim() : "";
    if (!token) return "missing";
    const t = digest(token);
    if (holds(full, t)) return "full";
    return holds(readOnly, t) ? "read" : "unknown";
  };
}

/** A request refused: its status, the error its body names, and any headers sent with it. */
interface Refusal {
  status: number;
  error: string;
  headers?: Record<string, string>;
}

export function registerApiAuth(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  config: ApiAuthConfig,
): void {
  const credential = credentialCheck(config);
  const required = authRequired(config);
  // Only without credentials (`jetstep dev`): with them, a DNS-rebound page holds no key, and a
  // gateway on loopback behind a reverse proxy sees the proxy's public Host.
  const loopbackOnly = !required && isLoopbackBind(config.host);

  const refuse = (reply: FastifyReply, { status, error, headers = {} }: Refusal) =>
    reply.status(status).headers(headers).send({ status, error });

  const corsOrigins = new Set(config.corsOrigins ?? []);

  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    const host = req.headers.host ?? "";
    if (loopbackOnly && !isLoopbackName(hostName(host)))
      return refuse(reply, {
        status: 403,
        error: `host: "${hostName(host)}" is not this server (it listens on loopback only)`,
      });
    const origin = req.headers.origin;
    const path = req.url.split("?", 1)[0] ?? "/";
    // Event senders on an allowed site: POST /e/:key only, and its preflight.
    if (origin !== undefined && corsOrigins.has(origin) && path.startsWith("/e/")) {
      void reply.header("access-control-allow-origin", origin).header("vary", "Origin");
      if (req.method === "OPTIONS")
        return reply
          .status(204)
          .header("access-control-allow-methods", "POST")
          .header("access-control-allow-headers", "content-type")
          .header("access-control-max-age", "600")
          .send();
      if (req.method === "POST") return;
    }
    // Followed from any page (a redirect of the app's endpoint): the token guards it, not the origin.
    if (req.method === "GET" && isTokenRoute(path)) return;
    const refusal = crossSiteRefusal(req, host) ?? multipartRefusal(req.headers["content-type"]);
    if (refusal) return refuse(reply, refusal);
    const access = accessOf(req.method, path);
    if (access === "open" || !required) return;
    const denied = credentialRefusal(access, credential(req.headers.authorization));
    if (denied) return refuse(reply, denied);
  });
}

/**
 * Refuses a browser request from a page of another site, told by its `Origin`, or without one
 * (writes only) by its `Sec-Fetch-Site` or `Referer`.
 */
function crossSiteRefusal(req: FastifyRequest, host: string): Refusal | undefined {
  const origin = req.headers.origin;
  if (origin === "null")
    return { status: 403, error: "origin: requests from an opaque origin are not accepted" };
  if (origin !== undefined) {
    if (sameHost(origin, host)) return undefined;
    return { status: 403, error: `origin: requests from ${origin} are not accepted (cross-site)` };
  }
  if (req.method === "GET" || req.method === "HEAD" || req.method === "OPTIONS") return undefined;
  // No Origin (a form post from an older browser): what else the browser says of where the
  // request comes from. Reads need no such check: without CORS headers a page cannot read them.
  const site = req.headers["sec-fetch-site"];
  if (site === "cross-site" || site === "same-site")
    return { status: 403, error: `sec-fetch-site: requests from another site (${site}) are not accepted` };
  const referer = req.headers.referer;
  if (typeof referer === "string" && referer !== "" && !sameHost(referer, host))
    return { status: 403, error: "referer: requests from pages of another site are not accepted" };
  return undefined;
}

/** Whether `url` names the server at `host` (not a URL: it does not). */
function sameHost(url: string, host: string): boolean {
  try {
    return new URL(url).host === host;
  } catch {
    return false;
  }
}

/**
 * A browser form can post multipart/form-data (and text/plain, which SDKs and scripts send
 * too); no client of these routes sends multipart.
 */
function multipartRefusal(type: string | undefined): Refusal | undefined {
  if (typeof type === "string" && /^\s*multipart\/form-data/i.test(type))
    return {
      status: 415,
      error: "content-type: multipart/form-data is not accepted; send JSON (application/json)",
    };
  return undefined;
}

/** What a request needing `access` is refused for, holding `held`; undefined when allowed. */
function credentialRefusal(access: Exclude<Access, "open">, held: Credential): Refusal | undefined {
  if (held === "missing")
    return {
      status: 401,
      error: "authorization: send Authorization: Bearer <API key>",
      headers: { "www-authenticate": 'Bearer realm="jetstep"' },
    };
  if (held === "full") return undefined;
  if (held === "read")
    return access === "read"
      ? undefined
      : { status: 403, error: "authorization: this API key may only read (GET)" };
  return {
    status: 401,
    error: "authorization: unknown API key",
    headers: { "www-authenticate": 'Bearer realm="jetstep", error="invalid_token"' },
  };
}
