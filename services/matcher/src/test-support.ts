/** Shared by the matcher's unit tests: registered functions and a matcher log that records. */
import { type FunctionDef, FunctionDefSchema, functionSpec } from "@jetstep/core";
import type { RegisteredFunction } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { MatcherLog } from "./matcher-log.ts";

export function registered(id: string, extra: Record<string, unknown> = {}): RegisteredFunction {
  const fn = {
    id,
    triggers: [{ event: "order/placed" }],
    steps: {
      step: { id: "step", name: "step", runtime: { type: "http", url: `http://app.test/api?fnId=${id}` } },
    },
    ...extra,
  } as FunctionDef;
  // As the gateway takes it: checked by the registration schema, then normalised.
  const checked = FunctionDefSchema.parse(fn);
  return {
    fn: checked,
    spec: functionSpec(checked),
    app: { appId: "shop", url: "http://app.test/api", functions: [checked], syncedAt: 0 },
  };
}

/** A MatcherLog that keeps its warnings in `warnings` (and logs nothing). */
export class RecordingLog extends MatcherLog {
  readonly warnings: { fields: Record<string, unknown>; message: string }[] = [];

  constructor(maxKeys?: number) {
    super(silentLogger(), maxKeys);
  }

  override warn(fields: Record<string, unknown>, message: string): void {
    this.warnings.push({ fields, message });
  }
}
