/**
 * Deciding, given a run's snapshot: which calls to the app are due (`nextWork`, next-work.ts),
 * what the app is sent (`memoOf`, memo.ts), which log entries an app's answer turns into
 * (`decideAnswer`, decide-answer.ts, with its ops in decide-ops.ts, decide-waits.ts and
 * decide-defers.ts) and what a checkpoint records (`decideCheckpoint`, decide-report.ts). Pure:
 * the clock and randomness come in as arguments. This module gathers them under the one name the
 * rest of the repository imports.
 */
export { type AppAnswer, type CallFailure, compensationTimerId, decideAnswer } from "./decide-answer.ts";
export { decideDefers } from "./decide-defers.ts";
export { sleepTimerId } from "./decide-ops.ts";
export { decideCheckpoint } from "./decide-report.ts";
export { type DecideOptions, retryTimerId } from "./decide-retry.ts";
export { invokeCorrelationId, waitTimerId } from "./decide-waits.ts";
export { defersOf, memoOf, stackOf } from "./memo.ts";
export {
  compensableSteps,
  type DueCall,
  type DueTimer,
  type DueWait,
  discoveryAttempt,
  type NextWork,
  nextWork,
  openWaits,
} from "./next-work.ts";
export { RUN_COMPLETE_OP_ID, stepIdProblem } from "./op-fields.ts";
