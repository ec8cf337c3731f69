import { createHash } from "node:crypto";

/** The wire id of a step: lowercase hex SHA-1 of its (possibly `:n`-suffixed) id. */
export function hashStepId(id: string): string {
  return createHash("sha1").update(id).digest("hex");
}

/** A step id after de-duplication within one execution. */
export interface AllocatedStepId {
  /** `id`, or `id:n` for the n-th repeat. */
  finalId: string;
  /** n for a repeat, absent for the first use. */
  index?: number;
  hashedId: string;
}

/**
 * Hands out step ids for one execution: the first use of `id` keeps it, the n-th repeat becomes
 * `id:n` (n = 1, 2, …), skipping suffixed ids the user already took — the official SDK's rule.
 */
export class StepIdAllocator {
  readonly #used = new Set<string>();
  readonly #nextIndex = new Map<string, number>();

  allocate(id: string): AllocatedStepId {
    if (!this.#used.has(id) && !this.#nextIndex.has(id)) {
      this.#nextIndex.set(id, 1);
      return this.#take(id);
    }
    for (let i = this.#nextIndex.get(id) ?? 1; ; i++) {
      const candidate = `${id}:${i}`;
      if (!this.#used.has(candidate)) {
        this.#nextIndex.set(id, i + 1);
        return { ...this.#take(candidate), index: i };
      }
    }
  }

  #take(finalId: string): AllocatedStepId {
    this.#used.add(finalId);
    return { finalId, hashedId: hashStepId(finalId) };
  }
}
