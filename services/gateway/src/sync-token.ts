/**
 * Which URL Jetstep synced, proven to the registration that answers the sync. A sync's `PUT`
 * carries `?deployId=<token>` (SDKs echo the deploy id on `/fn/register`), where the token binds
 * the synced URL and an expiry with an HMAC under the signing key. Any gateway replica can check
 * it; nothing is stored. An app that registers another URL than the one synced (a forged `Host`
 * or `X-Forwarded-Proto` on a `PUT`, or an SDK without its serve host configured) is found out.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const PREFIX = "jss1-";
/** How long a sync's token is good for: a registration answers its sync within seconds. */
export const SYNC_TOKEN_TTL_MS = 10 * 60_000;

/** The part of an app URL a sync is for: origin and path (the query is the SDK's business). */
function syncedPart(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

function mac(signingKey: string, url: string, expiresSec: number): string {
  return createHmac("sha256", `jetstep-sync\n${signingKey}`)
    .update(`${syncedPart(url)}\n${expiresSec}`)
    .digest("hex");
}

export function syncToken(signingKey: string, url: string, nowMs: number): string {
  const expiresSec = Math.floor((nowMs + SYNC_TOKEN_TTL_MS) / 1000);
  return `${PREFIX}${expiresSec}-${mac(signingKey, url, expiresSec)}`;
}

/** The URL to `PUT` to sync `url`, with its token when there is a signing key. */
export function syncRequestUrl(url: string, signingKey: string | undefined, nowMs: number): string {
  if (!signingKey) return url;
  const u = new URL(url);
  u.searchParams.set("deployId", syncToken(signingKey, url, nowMs));
  return u.toString();
}

/** When the sync that made `deployId` began (ms, to the second below), if it is a sync token. */
export function syncStartedAt(deployId: string | undefined): number | undefined {
  const m = deployId?.startsWith(PREFIX) ? /^(\d+)-/.exec(deployId.slice(PREFIX.length)) : null;
  return m ? Number(m[1]) * 1000 - SYNC_TOKEN_TTL_MS : undefined;
}

export type SyncTokenCheck = "none" | "valid" | "expired" | "other-url";

/**
 * What a registration's deploy id says about its URL: "none" (not a Jetstep sync token: the app
 * registered on its own), "valid" (Jetstep synced exactly this URL), "other-url" (Jetstep synced
 * another URL, or the token was forged) or "expired".
 */
export function checkSyncToken(
  signingKey: string,
  deployId: string | undefined,
  registeredUrl: string,
  nowMs: number,
): SyncTokenCheck {
  if (!deployId?.startsWith(PREFIX)) return "none";
  const m = /^(\d+)-([0-9a-f]{64})$/.exec(deployId.slice(PREFIX.length));
  if (!m) return "other-url";
  const expiresSec = Number(m[1]);
  let expected: Buffer;
  try {
    expected = Buffer.from(mac(signingKey, registeredUrl, expiresSec), "hex");
  } catch {
    return "other-url";
  }
  if (!timingSafeEqual(expected, Buffer.from(m[2] as string, "hex"))) return "other-url";
  return expiresSec * 1000 < nowMs ? "expired" : "valid";
}
