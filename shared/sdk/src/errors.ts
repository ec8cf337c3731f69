/** Stable codes carried by every error this SDK throws (see README "Errors"). */
export const ErrorCode = {
  NonRetriable: "NON_RETRIABLE",
  RetryAfter: "RETRY_AFTER",
  StepFailed: "STEP_FAILED",
  InvalidConfig: "INVALID_CONFIG",
  InvalidDuration: "INVALID_DURATION",
  InvalidCall: "INVALID_CALL",
  SendEventFailed: "SEND_EVENT_FAILED",
  NotSerializable: "NOT_SERIALIZABLE",
  BodyTooLarge: "BODY_TOO_LARGE",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Base class of the SDK's errors. `retriable: false` makes a run fail at once when the error escapes a
 * step or the handler (same effect as {@link NonRetriableError}).
 */
export class JetstepError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "JetstepError";
    this.code = code;
    this.retriable = options.retriable ?? true;
  }
}

/**
 * What a step tool throws when its memoized result is an error (a step that exhausted its retries, an
 * invoke that failed or timed out). `name`, `message` and `stack` are the original error's. If the
 * handler does not catch it, the run fails without retry.
 */
export class StepError extends JetstepError {
  /** The user-facing step id (e.g. `"get-user"`). */
  readonly stepId: string;
  constructor(stepId: string, error: { name: string; message: string; stack?: string; cause?: unknown }) {
    super(ErrorCode.StepFailed, error.message, { cause: error.cause, retriable: false });
    this.name = error.name;
    this.stepId = stepId;
    if (error.stack !== undefined) this.stack = error.stack;
  }
}

/** Bad options given to `new Jetstep()`, `createFunction()` or `serve()`; `field` names the property. */
export class InvalidConfigError extends JetstepError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(ErrorCode.InvalidConfig, message, { retriable: false });
    this.name = "InvalidConfigError";
    this.field = field;
  }
}

/** A duration that is neither a non-negative number of ms nor a string like `"30s"`, `"2h45m"`, `"1w"`. */
export class InvalidDurationError extends JetstepError {
  constructor(input: string) {
    super(
      ErrorCode.InvalidDuration,
      `Invalid duration ${JSON.stringify(input)}: use ms or e.g. "30s", "2h45m", "1d"`,
      {
        retriable: false,
      },
    );
    this.name = "InvalidDurationError";
  }
}

/** A call from the executor that does not match the protocol; answered with 400. */
export class InvalidCallError extends JetstepError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(ErrorCode.InvalidCall, message, { retriable: false });
    this.name = "InvalidCallError";
    this.field = field;
  }
}

/** `send()` failed: the gateway answered non-2xx (`status`, its message) or could not be reached (`status` 0). */
export class SendEventError extends JetstepError {
  readonly status: number;
  constructor(status: number, message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.SendEventFailed, message, options);
    this.name = "SendEventError";
    this.status = status;
  }
}

/** A request body larger than the serve adapter accepts; answered with 413. */
export class BodyTooLargeError extends JetstepError {
  constructor(limitBytes: number) {
    super(ErrorCode.BodyTooLarge, `request body exceeds ${limitBytes} bytes`, { retriable: false });
    this.name = "BodyTooLargeError";
  }
}
