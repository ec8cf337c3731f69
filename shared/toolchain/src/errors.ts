export type ToolchainErrorCode =
  /** No binary where we looked (or `NATS_SERVER_BIN` names a missing file). */
  | "NOT_FOUND"
  /** A binary was found but is older than the minimum. */
  | "TOO_OLD"
  /** No Go toolchain to build with, or one too old. */
  | "NO_GO"
  /** `go` failed; the build log is kept. */
  | "BUILD_FAILED"
  /** What was built (or found) does not report the expected version. */
  | "WRONG_BINARY";

/** Finding or building a pinned program failed. The message is one line saying what and how to fix it. */
export class ToolchainError extends Error {
  override readonly name = "ToolchainError";
  constructor(
    readonly code: ToolchainErrorCode,
    message: string,
  ) {
    super(message);
  }
}
