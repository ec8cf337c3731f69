import { checkToken } from "@jetstep/core";

/** Whether `id` can be a run id (routes answer 404 for one that cannot, without a lookup). */
export function isRunId(id: string): boolean {
  try {
    checkToken("runId", id);
    return true;
  } catch {
    return false;
  }
}
