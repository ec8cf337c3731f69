/**
 * The matcher's logger as each of its parts gets it: warnings, and warnings said once per key (an
 * expression that fails on every event is logged the first time, not once per event). The keys
 * kept are bounded: past `maxKeys` the oldest is forgotten, and may be said again.
 */
import type { Logger } from "@jetstep/telemetry";

export class MatcherLog {
  private readonly said = new Set<string>();

  constructor(
    readonly log: Logger,
    private readonly maxKeys = 10_000,
  ) {}

  warn(fields: Record<string, unknown>, message: string): void {
    this.log.warn(fields, message);
  }

  /** Warns unless a warning under `key` was already said. */
  once(key: string, fields: Record<string, unknown>, message: string): void {
    if (this.said.has(key)) return;
    if (this.said.size >= this.maxKeys) {
      const oldest = this.said.values().next();
      if (!oldest.done) this.said.delete(oldest.value);
    }
    this.said.add(key);
    this.warn(fields, message);
  }
}
