/**
 * What the run machine (`run-machine.ts`) keeps of a run: its context and the state of each step,
 * compensation and defer, with the timer ids the machine itself knows. Types and constants only,
 * plus the context a run starts with, so the deciding code (`next-work.ts`, `decide-*.ts`) can read
 * a snapshot without depending on the machine.
 */
import type { SerializedError } from "./schemas/error.ts";
import type { StoredEvent } from "./schemas/event.ts";
import type { RunLogEntry } from "./schemas/log.ts";
import { type RunSpec, runSpecOf, runTimeouts } from "./schemas/run-spec.ts";
import type { StoredEventMeta } from "./sessions.ts";

/** Timer ids of the run-level deadlines (`timeouts`). */
export const TIMEOUT_START = "timeout-start";
export const TIMEOUT_FINISH = "timeout-finish";
/** Timer id of a throttled run's start. */
export const THROTTLE_TIMER = "throttle";

export type StepStatus = "planned" | "backoff" | "sleeping" | "waiting" | "completed" | "failed";

/** An open `step.waitForEvent`. */
export interface WaitSpec {
  event: string;
  if?: string;
  afterSeq: number;
  /** Set for `step.invoke`: the wait is for the target's `inngest/function.finished`. */
  invoke?: InvokeSpec;
}

/** A `step.invoke` in flight: the `inngest/function.invoked` event to send, and its correlation id. */
export interface InvokeSpec {
  functionId: string;
  data: Record<string, unknown>;
  correlationId: string;
  meta?: StoredEventMeta;
  user?: Record<string, unknown>;
}

export interface StepState {
  stepId: string;
  name: string;
  /** How the step came to be: found alone in discovery, or planned in parallel and called by id. */
  origin: "discovered" | "planned";
  status: StepStatus;
  /** Attempts made so far (failed ones included). */
  attempts: number;
  data?: unknown;
  error?: SerializedError;
  startedAt?: number;
  endedAt?: number;
  retryAt?: number;
  /** A sleep: until when (kept once it ended; `retryAt` is its timer's and is cleared). */
  until?: number;
  timerId?: string;
  /** Order in which the step reached a final status. */
  order?: number;
  /** Whether the memo holds `data` itself (sleeps: null; waits: the event or null) rather than `{data}`. */
  memoRaw?: boolean;
  wait?: WaitSpec;
  /** The step registered a saga compensation. */
  compensable?: boolean;
  /** An invoke: the run of the invoked function (from its `inngest/function.finished`). */
  childRunId?: string;
  /** Attempts that errored before the current one, each with its error and the retry it led to. */
  history?: AttemptRecord[];
}

/** One errored attempt of a step (`step.errored`, or the last one, `step.failed`). */
export interface AttemptRecord {
  attempt: number;
  error: SerializedError;
  startedAt: number;
  endedAt: number;
  /** When the next attempt was due (absent for the last one). */
  retryAt?: number;
}

/** A `defer()` of the run: sent as `inngest/deferred.schedule` when the run ends, if still `scheduled`. */
export interface DeferState {
  deferId: string;
  name: string;
  fnSlug: string;
  status: "scheduled" | "aborted" | "rejected";
  input?: Record<string, unknown>;
  meta?: StoredEventMeta;
  /** Why a `rejected` defer was refused. */
  reason?: string;
}

export type CompensationStatus = "pending" | "backoff" | "completed" | "failed";

/** One compensation of a compensating run. */
export interface CompensationState {
  stepId: string;
  name: string;
  status: CompensationStatus;
  attempts: number;
  data?: unknown;
  error?: SerializedError;
  startedAt?: number;
  endedAt?: number;
  retryAt?: number;
  timerId?: string;
}

export interface Compensation {
  reason: "failed" | "cancelled";
  /** In execution order (reverse order of the steps' completion). */
  steps: CompensationState[];
}

/**
 * The run's state: its spec (`run-spec.ts`) under the names the start command and `run.scheduled`
 * gave it, and what its log has recorded since. Two spec fields change as the run goes on: `startAt`
 * is cleared when the throttle timer fires, `timeouts.startBy` once the run has started in time.
 */
export interface RunContext extends Omit<RunSpec, "event" | "endpoint"> {
  partition: number;
  /** The triggering event (`null` only before `run.scheduled`). */
  event: StoredEvent | null;
  createdAt: number;
  endedAt?: number;
  steps: Record<string, StepState>;
  /** Step ids in the order they were first seen. */
  stepOrder: string[];
  finished: number;
  output?: unknown;
  error?: SerializedError;
  cancelReason?: string;
  compensation?: Compensation;
  /** Whether the app has answered at least once (for `timeouts.start`). */
  started?: boolean;
  /** The execution version the SDK answered with (`run.versioned`); calls send -1 before. */
  reqVersion?: number;
  /** The run's `defer()`s by the SDK's hashed id, in the order they were added. */
  defers?: Record<string, DeferState>;
  /** A durable endpoint's run; `sync` while the app's own request runs it (no calls). */
  endpoint?: { sync: boolean; tokenHash: string; syncTimeoutMs: number };
  /** Number of applied log entries (the `n` of the last one). */
  lastN: number;
}

/** A durable endpoint run's state (`RunContext.endpoint`). */
export type EndpointState = NonNullable<RunContext["endpoint"]>;

/** Prefix of the timer that ends a durable endpoint run's sync mode when the app goes quiet. */
export const ENDPOINT_SYNC_TIMER = "endpoint-sync";

/**
 * The timer that ends sync mode: `syncTimeoutMs` after the run's latest progress (its start or a
 * step that ended). Its id names its time, so a later report makes a new timer and the earlier
 * one fires for nothing.
 */
export function endpointSyncTimer(ctx: RunContext): { timerId: string; fireAt: number } | undefined {
  if (!ctx.endpoint?.sync) return undefined;
  let last = ctx.createdAt;
  for (const s of Object.values(ctx.steps)) if (s.endedAt !== undefined && s.endedAt > last) last = s.endedAt;
  const fireAt = last + ctx.endpoint.syncTimeoutMs;
  return { timerId: `${ENDPOINT_SYNC_TIMER}-${fireAt}`, fireAt };
}

/** The log entry of type `T`, as the machine's transitions receive it. */
export type LogEntryOf<T extends RunLogEntry["type"]> = Extract<RunLogEntry, { type: T }>;

/** The context before `run.scheduled` (the machine's initial one), and the base of the scheduled one. */
export const emptyContext = (): RunContext => ({
  runId: "",
  fnId: "",
  appId: "",
  url: "",
  maxAttempts: 1,
  partition: 0,
  event: null,
  events: [],
  createdAt: 0,
  steps: {},
  stepOrder: [],
  finished: 0,
  lastN: 0,
});

/** `run.scheduled`'s timeouts in today's form (entries written before run specs had `finishBy`). */
function timeoutsOf(event: LogEntryOf<"run.scheduled">): Pick<RunContext, "timeouts"> {
  const timeouts = runTimeouts(event.timeouts, event.event.ts, event.ts);
  return timeouts ? { timeouts } : {};
}

/** The context `run.scheduled` starts a run with: its whole spec, and a durable endpoint in sync mode. */
export function scheduledContext(event: LogEntryOf<"run.scheduled">): RunContext {
  const { endpoint, ...spec } = runSpecOf(event);
  return {
    ...emptyContext(),
    ...spec,
    partition: event.partition,
    ...timeoutsOf(event),
    ...(endpoint ? { endpoint: { ...endpoint, sync: true } } : {}),
    createdAt: event.ts,
    lastN: event.n,
  };
}
