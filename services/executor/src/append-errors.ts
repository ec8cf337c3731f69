/** Why an append to a run's log did not happen. */

export class AppendConflictError extends Error {
  override name = "AppendConflictError";
  constructor(runId: string) {
    super(`run ${runId} was appended to by another writer`);
  }
}

/** RUNS refused an append for longer than the executor retries it (or the run changed hands). */
export class AppendFailedError extends Error {
  override name = "AppendFailedError";
  constructor(runId: string, why: string) {
    super(`could not append to run ${runId}: ${why}`);
  }
}
