import { parseDuration } from "./duration.ts";
import { ErrorCode, InvalidDurationError, JetstepError } from "./errors.ts";

/**
 * Throw from a step or a handler to fail it without retrying. Inside `step.run` the step is reported
 * as `StepFailed` (the run fails unless the handler catches the rethrown error); outside a step the
 * answer is `400` with `X-Inngest-No-Retry: true`.
 */
export class NonRetriableError extends JetstepError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.NonRetriable, message, { ...options, retriable: false });
    this.name = "NonRetriableError";
  }
}

/**
 * Throw to ask for a retry no earlier than `retryAfter`: milliseconds, a duration string (`"30s"`,
 * `"2h45m"`) or a `Date`. Answered with `Retry-After` (whole seconds, rounded up, or an ISO date) and
 * `X-Inngest-No-Retry: false`; on the last attempt it fails like any other error. Throws
 * {@link InvalidDurationError} synchronously when `retryAfter` can't be read.
 */
export class RetryAfterError extends JetstepError {
  /** The `Retry-After` header value: seconds as a string, or an ISO-8601 date. */
  readonly retryAfter: string;
  constructor(message: string, retryAfter: number | string | Date, options: { cause?: unknown } = {}) {
    super(ErrorCode.RetryAfter, message, options);
    this.name = "RetryAfterError";
    if (retryAfter instanceof Date) {
      if (Number.isNaN(retryAfter.getTime())) throw new InvalidDurationError(String(retryAfter));
      this.retryAfter = retryAfter.toISOString();
    } else {
      this.retryAfter = String(Math.ceil(parseDuration(retryAfter) / 1000));
    }
  }
}

/** True for errors that must fail at once: ours with `retriable: false`, or any error named `NonRetriableError`. */
export function isNonRetriable(error: unknown): boolean {
  if (error instanceof JetstepError) return !error.retriable;
  return isNamed(error, "NonRetriableError");
}

/** The `Retry-After` value of a RetryAfterError (ours, or one from another SDK with the same shape). */
export function retryAfterOf(error: unknown): string | undefined {
  if (error instanceof RetryAfterError) return error.retryAfter;
  if (isNamed(error, "RetryAfterError")) {
    const value = (error as { retryAfter?: unknown }).retryAfter;
    if (typeof value === "string" && value !== "") return value;
  }
  return undefined;
}

function isNamed(error: unknown, name: string): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === name;
}
