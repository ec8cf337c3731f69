/**
 * Syncing apps: a `PUT` to the app's URL makes it register its functions (`POST /fn/register`).
 * The outcome of the last attempt per URL is kept in the FUNCTIONS bucket (`sync.<url>`), so the
 * API and the UI show sync errors, and URLs added from the UI join `jetstep dev`'s periodic sync.
 */
import { escapeToken, unescapeToken } from "@jetstep/core";
import type { SyncStatusStore } from "@jetstep/jetstream";
import { syncRequestUrl } from "./sync-token.ts";

export interface SyncStatus {
  url: string;
  ok: boolean;
  error?: string;
  at: number;
  /**
   * Failed syncs in a row, set by the periodic sync (a URL added through the API is given up after
   * SYNC_GIVE_UP_AFTER); absent once synced, or on a status written by a sync by hand.
   */
  failures?: number;
  /** When the periodic sync tries this failing URL next (ms; the backoff doubles per failure). */
  retryAt?: number;
  /** Found by `jetstep dev`'s auto-discovery, not configured (`-u`) or added (API, UI). */
  discovered?: boolean;
  /**
   * On standby: this URL serves an app that another URL holds (see `AppHolds`); it takes the app
   * over at a sync after the holder stops answering. Not a failure: retried every interval.
   */
  heldBy?: { appId: string; url: string };
}

/** Where sync statuses are kept (the FUNCTIONS bucket, keys `sync.<url>`). */
export type SyncStatuses = SyncStatusStore<SyncStatus>;

/**
 * Failed syncs in a row after which the periodic sync stops trying a URL added through the API or
 * the UI (until synced by hand). With the backoff, about 25 minutes of failures in dev.
 */
export const SYNC_GIVE_UP_AFTER = 10;

/** Why an app answered a sync with `status`, in a few words (its body is never passed on). */
function classify(status: number): string {
  if (status >= 300 && status < 400) return "a redirect (not followed: give the app's final URL)";
  if (status === 401 || status === 403) return "refused (does the app hold the same signing key?)";
  if (status === 404 || status === 405)
    return "nothing serves this path (the app's serve path, e.g. /api/inngest?)";
  if (status >= 500) return "the app failed (see its logs)";
  return "not a sync answer";
}

const PREFIX = "sync.";
export const syncKey = (url: string): string => `${PREFIX}${escapeToken(url)}`;
/**
 * Where a sync by hand of `url` records when it began (`at`): it may move the app there (see
 * `AppHolds`). Apart from the URL's status, so no status written meanwhile (a periodic sync's
 * standby, recorded by a registration already under way) can erase the claim.
 */
const claimKey = (url: string): string => `claim.${escapeToken(url)}`;
/**
 * When `url` was removed (DELETE /v1/apps), apart from its status (which the removal deletes): a
 * registration answering a sync that began before then is refused, or a sync under way at the
 * removal would register the app again. Cleared when the URL is added again.
 */
const removedKey = (url: string): string => {
  // As a sync token binds it: origin and path, so the URL as added and as registered agree.
  let part = url;
  try {
    const u = new URL(url);
    part = `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    // Not a URL: kept as given (it was never synced).
  }
  return `removed.${escapeToken(part)}`;
};

/**
 * PUTs the app's URL; resolves with whether it answered 2xx and, if not, what it answered. With
 * the signing key, the PUT carries a token for `url` as its deploy id (`sync-token.ts`): the
 * registration that answers must be for this very URL.
 */
export async function syncAppUrl(
  url: string,
  opts: { signingKey?: string | undefined; now?: () => number; timeoutMs?: number } = {},
): Promise<{ ok: boolean; error?: string }> {
  try {
    // Not a proxy: redirects are not followed, and what the URL answers is never passed on beyond
    // its status (an internal page's content must not come back to whoever added the URL).
    const res = await fetch(syncRequestUrl(url, opts.signingKey, (opts.now ?? Date.now)()), {
      method: "PUT",
      redirect: "manual",
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return { ok: true };
    return { ok: false, error: `app answered ${res.status}: ${classify(res.status)}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    const code = err.cause?.code ?? (err.name === "TimeoutError" ? "timed out" : "unreachable");
    return { ok: false, error: `could not reach ${url}: ${code}` };
  }
}

/**
 * Which URL an app served at two URLs belongs to. The URL it is registered at keeps it while that
 * URL answers its syncs (its last sync succeeded); a registration of the same app from another URL
 * is refused (409) and that URL is put on standby, naming the holder. When the holder's sync fails
 * or it is removed, the standby URL takes the app over at its next sync. A sync asked for by hand
 * (API, UI) moves the app to the URL synced: an operator's choice. A holder Jetstep does not sync
 * (an app that registered by itself) answers nothing here: the last registration wins.
 */
export interface AppHolds {
  /** Whether the app registered at `holder` stays there when `challenger` registers it too. */
  keeps(holder: string, challenger: string): Promise<boolean>;
  /** Records that `url` serves `appId` too, and waits: `holder` has it. */
  standby(url: string, appId: string, holder: string): Promise<void>;
  /** Whether `url` was removed at or after `since` (ms): a sync begun then answers for nothing. */
  removedSince(url: string, since: number): Promise<boolean>;
}

/** How long a sync by hand may take to register its app (the sync's own timeout is 10 s). */
const CLAIM_MS = 30_000;

/** The rule of `AppHolds`, over the sync statuses. */
export function appHolds(store: SyncStatuses, now: () => number): AppHolds {
  return {
    keeps: async (holder, challenger) => {
      const claimed = async (url: string) => {
        const claim = await store.get(claimKey(url));
        return claim !== undefined && now() - claim.at < CLAIM_MS;
      };
      if (await claimed(challenger)) return false;
      // A holder synced by hand a moment ago keeps the app even before its sync is recorded: a
      // periodic sync of the URL it left, under way meanwhile, must not take it back.
      return (await store.get(syncKey(holder)))?.ok === true || (await claimed(holder));
    },
    standby: async (url, appId, holder) => {
      const before = await store.get(syncKey(url));
      await store.put(syncKey(url), {
        url,
        ok: false,
        error: `standby: app "${appId}" is served at ${holder}, which answers its syncs; this URL takes it over when that one stops answering or is removed (or when synced by hand)`,
        at: now(),
        heldBy: { appId, url: holder },
        ...(before?.discovered ? { discovered: true } : {}),
      });
    },
    removedSince: async (url, since) => ((await store.get(removedKey(url)))?.at ?? -1) >= since,
  };
}

/**
 * After a sync of `url` that failed, begun at `since`: the standby status its registration recorded
 * meanwhile (the app it serves is held by another URL), which then stands instead of a failure.
 */
export async function standbySince(
  store: SyncStatuses,
  url: string,
  since: number,
): Promise<SyncStatus | undefined> {
  const status = await store.get(syncKey(url)).catch(() => undefined);
  return status?.heldBy && status.at >= since ? status : undefined;
}

/**
 * A sync asked for through the API or the UI, recorded. It claims the app for `url` first (see
 * `AppHolds`: a sync by hand moves an app another URL holds), so a failed one leaves a standby
 * status only when the app's registration was refused all the same.
 */
export async function syncByHand(
  store: SyncStatuses,
  url: string,
  opts: { signingKey?: string | undefined; now: () => number },
): Promise<{ url: string; ok: boolean; error?: string; held_by?: SyncStatus["heldBy"] }> {
  const previous = await store.get(syncKey(url));
  const since = opts.now();
  await clearRemoval(store, url);
  await store.put(claimKey(url), { url, ok: false, error: "a sync by hand under way", at: since });
  try {
    const result = await syncAppUrl(url, opts);
    const standby = result.ok ? undefined : await standbySince(store, url, since);
    if (standby)
      return { url, ok: false, ...(standby.error ? { error: standby.error } : {}), held_by: standby.heldBy };
    await recordSync(store, {
      url,
      ...result,
      at: opts.now(),
      ...(previous?.discovered ? { discovered: true } : {}),
    });
    return { url, ...result };
  } finally {
    // Once recorded, the URL holds its app by answering its syncs; a claim left standing would
    // take the app back from a URL synced by hand after this one.
    await store.remove(claimKey(url)).catch(() => undefined);
  }
}

/** Stores a sync outcome (written only when it changed, to spare the bucket). */
export async function recordSync(
  store: SyncStatuses,
  status: SyncStatus,
  previous?: SyncStatus,
): Promise<void> {
  if (
    previous &&
    previous.ok === status.ok &&
    previous.error === status.error &&
    (previous.failures ?? 0) === (status.failures ?? 0)
  )
    return;
  await store.put(syncKey(status.url), status);
}

/**
 * Stores a sync outcome only while the URL is still listed (compare-and-set on its entry): a URL
 * removed while its sync was under way stays removed. Resolves whether it was stored.
 */
export function recordSyncIfListed(store: SyncStatuses, status: SyncStatus): Promise<boolean> {
  // Changed meanwhile (removed, or recorded by a sync by hand): theirs stands.
  return store.putIfPresent(syncKey(status.url), status);
}

/** Forgets a URL's sync status: it leaves the periodic sync (unless given with `-u`). */
export async function forgetSync(store: SyncStatuses, url: string, at: number): Promise<void> {
  // First, so a registration answering a sync under way is refused from now on.
  await store.put(removedKey(url), { url, ok: false, error: "removed", at });
  await store.remove(syncKey(url));
  await store.remove(claimKey(url));
}

/** A URL added (or synced by hand) again: registrations answering its syncs count again. */
export async function clearRemoval(store: SyncStatuses, url: string): Promise<void> {
  await store.remove(removedKey(url));
}

/** Every URL with a recorded sync status (those added from the UI or the API included). */
export async function listSyncStatuses(store: SyncStatuses): Promise<SyncStatus[]> {
  // Bounded (the listing fails rather than hang): a listing that never ended would stop every
  // later sync, since syncs do not overlap.
  return (await store.list(`${PREFIX}>`)).map(
    ({ key, value }) =>
      value ?? { url: unescapeToken(key.slice(PREFIX.length)), ok: false, error: "unreadable status", at: 0 },
  );
}
