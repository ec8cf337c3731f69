/**
 * `@jetstep/core/protocol`: what an app and Jetstep say to each other, and all the SDK imports of
 * core. The names (subjects, headers, worker statuses), the op codes, the event, checkpoint and
 * function-option schemas, call signing and durations. None of it reaches the run machine, replay
 * or the decisions (and so not xstate): an app, and the SDK's bundle, carry no executor code.
 * `scripts/check-imports.mjs` holds the SDK to this entry.
 */
export * from "./call-signature.ts";
export * from "./duration.ts";
export * from "./errors.ts";
export * from "./names.ts";
export * from "./schemas/checkpoint.ts";
export * from "./schemas/event.ts";
export * from "./schemas/function-options.ts";
export * from "./schemas/ops.ts";
export * from "./signing.ts";
