/**
 * The nats-server versions Jetstep accepts. The minimum is what the code relies on: 2.12 places
 * ephemeral consumers only on online peers (nats-server PR #7165; before it, a consumer of a
 * replicated stream could land on a dead node), has per-message TTL (2.11) and `sync_interval`
 * (2.10, fsync before ack). Where the pinned version that `jetstep install` builds is set:
 * `@jetstep/toolchain` (`Tools`).
 */
export const MIN_NATS_SERVER_VERSION = "2.12.0";

export type Version = readonly [major: number, minor: number, patch: number];

/** `"2.15.2"`, `"v2.15.2"`, `"nats-server: v2.15.2"` or `"2.12.0-RC.1"` → [2, 15, 2]; else undefined. */
export function parseVersion(text: string): Version | undefined {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(text);
  if (!m) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export function compareVersions(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `found` (any text holding a version) is at least `min`; false when no version is in it. */
export function versionAtLeast(found: string, min: string = MIN_NATS_SERVER_VERSION): boolean {
  const f = parseVersion(found);
  const m = parseVersion(min);
  if (!f || !m) return false;
  return compareVersions(f, m) >= 0;
}
