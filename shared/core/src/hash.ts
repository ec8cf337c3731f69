/** Small pure hashes (no node:crypto in core): FNV-1a, used for partitions and derived ids. */

export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** 64-bit FNV-1a as a bigint. */
export function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  const mask = 0xffffffffffffffffn;
  for (const byte of new TextEncoder().encode(text)) {
    h ^= BigInt(byte);
    h = (h * prime) & mask;
  }
  return h;
}

export function partitionOf(key: string, partitions: number): number {
  return fnv1a32(key) % partitions;
}
