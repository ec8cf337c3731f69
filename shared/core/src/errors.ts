/** Error classes of the core package: one class per condition, each with a stable `code`. */

export const ErrorCodes = {
  invalidToken: "INVALID_TOKEN",
  replay: "REPLAY_ERROR",
  invalidDuration: "INVALID_DURATION",
  invalidExpression: "INVALID_EXPRESSION",
} as const;
export type ErrorCodes = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class JetstepError extends Error {
  readonly code: ErrorCodes;
  constructor(code: ErrorCodes, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class InvalidTokenError extends JetstepError {
  constructor(kind: string, token: string) {
    super(ErrorCodes.invalidToken, `invalid ${kind} ${JSON.stringify(token)}: expected [A-Za-z0-9_-]+`);
  }
}

/** A run log that cannot be folded: malformed, out of order, or an entry the state does not accept. */
export class ReplayError extends JetstepError {
  readonly index: number;
  constructor(index: number, message: string) {
    super(ErrorCodes.replay, `run log entry ${index}: ${message}`);
    this.index = index;
  }
}

export class InvalidDurationError extends JetstepError {
  constructor(input: unknown) {
    super(
      ErrorCodes.invalidDuration,
      `invalid duration ${JSON.stringify(input)}: expected milliseconds or a string like "30s", "2h45m", "1d", "1w"`,
    );
  }
}

export class InvalidExpressionError extends JetstepError {
  constructor(expression: string, reason: string) {
    super(ErrorCodes.invalidExpression, `invalid expression ${JSON.stringify(expression)}: ${reason}`);
  }
}
