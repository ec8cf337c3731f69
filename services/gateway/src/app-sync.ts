/**
 * Syncing apps: a `PUT` to the app's URL makes it register its functions (`POST /fn/register`).
 * The outcome of the last attempt per URL is kept in the FUNCTIONS bucket (`sync.<url>`), so the
 * API and the UI show sync errors, and URLs added from the UI join `jetstep dev`'s periodic sync.
 */
import { escapeToken, unescapeToken } from "@jetstep/core";
import { type KV, listKvKeys } from "@jetstep/jetstream";

export interface SyncStatus {
  url: string;
  ok: boolean;
  error?: string;
  at: number;
}

const PREFIX = "sync.";
export const syncKey = (url: string): string => `${PREFIX}${escapeToken(url)}`;

/** PUTs the app's URL; resolves with whether it answered 2xx and, if not, what it answered. */
export async function syncAppUrl(url: string, timeoutMs = 10_000): Promise<{ ok: boolean; error?: string }> {
  try {
    const res = await fetch(url, { method: "PUT", signal: AbortSignal.timeout(timeoutMs) });
    if (res.ok) return { ok: true };
    return { ok: false, error: `app answered ${res.status}: ${(await res.text()).slice(0, 300)}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string } };
    return { ok: false, error: `could not reach ${url}: ${err.cause?.code ?? err.message}` };
  }
}

/** Stores a sync outcome (written only when it changed, to spare the bucket). */
export async function recordSync(kv: KV, status: SyncStatus, previous?: SyncStatus): Promise<void> {
  if (previous && previous.ok === status.ok && previous.error === status.error) return;
  await kv.put(syncKey(status.url), JSON.stringify(status));
}

/** Every URL with a recorded sync status (those added from the UI or the API included). */
export async function listSyncStatuses(kv: KV): Promise<SyncStatus[]> {
  const out: SyncStatus[] = [];
  // Bounded (listKvKeys fails rather than hang): a listing that never ended would stop every
  // later sync, since syncs do not overlap.
  for (const key of await listKvKeys(kv, `${PREFIX}>`)) {
    const e = await kv.get(key);
    if (e?.operation !== "PUT") continue;
    try {
      out.push(e.json<SyncStatus>());
    } catch {
      out.push({
        url: unescapeToken(key.slice(PREFIX.length)),
        ok: false,
        error: "unreadable status",
        at: 0,
      });
    }
  }
  return out;
}
