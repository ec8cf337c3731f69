import { Keys } from "@jetstep/core";
import type { KV } from "@nats-io/kv";

export const DEFAULT_PARTITIONS = 16;

/**
 * The deployment-wide partition count, fixed by whichever service starts first (stored in the
 * LEASES bucket). A service configured with another number uses the stored one and says so.
 */
export async function partitionCount(leases: KV, wanted = DEFAULT_PARTITIONS): Promise<number> {
  try {
    await leases.create(Keys.partitionCount, String(wanted));
    return wanted;
  } catch {
    const e = await leases.get(Keys.partitionCount);
    const n = e ? Number(e.string()) : Number.NaN;
    if (!Number.isInteger(n) || n < 1)
      throw new Error(`invalid ${Keys.partitionCount} in leases bucket: ${e?.string()}`);
    return n;
  }
}

/** The stored partition count, if a service has fixed it yet (undefined: not yet, or unreadable). */
export async function storedPartitionCount(leases: KV): Promise<number | undefined> {
  const e = await leases.get(Keys.partitionCount);
  const n = e?.operation === "PUT" ? Number(e.string()) : Number.NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
