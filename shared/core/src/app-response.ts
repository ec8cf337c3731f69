/** Classifies an app's HTTP answer (status, headers, body text) into an AppAnswer. */
import { parseRetryAfter } from "./backoff.ts";
import type { AppAnswer } from "./decide-answer.ts";
import { toSerializedError } from "./schemas/error.ts";
import { OpsSchema } from "./schemas/ops.ts";

const MAX_QUOTE = 300;

function quote(body: string): string {
  const trimmed = body.trim();
  if (trimmed.length === 0) return "an empty body";
  return JSON.stringify(trimmed.length > MAX_QUOTE ? `${trimmed.slice(0, MAX_QUOTE)}…` : trimmed);
}

export function parseAppResponse(
  status: number,
  header: (name: string) => string | null | undefined,
  body: string,
  nowMs: number,
): AppAnswer {
  const answer = classify(status, header, body, nowMs);
  if (answer.kind === "transport") return answer;
  // What the SDK says it ran with: -1 asks the SDK to choose, so only real versions count.
  const raw = header("x-inngest-req-version");
  const reqVersion =
    raw !== null && raw !== undefined && /^\d{1,2}$/.test(raw.trim()) ? Number(raw) : undefined;
  return reqVersion === undefined ? answer : { ...answer, reqVersion };
}

function classify(
  status: number,
  header: (name: string) => string | null | undefined,
  body: string,
  nowMs: number,
): AppAnswer {
  let json: unknown;
  let isJson = false;
  try {
    json = body.length > 0 ? JSON.parse(body) : null;
    isJson = true;
  } catch {
    isJson = false;
  }
  if (status === 200) {
    if (!isJson)
      return {
        kind: "transport",
        message: `app answered 200 with a body that is not JSON: ${quote(body)}`,
        failure: "bad_response",
      };
    return { kind: "result", data: json };
  }
  if (status === 206) {
    if (!isJson)
      return {
        kind: "transport",
        message: `app answered 206 with a body that is not JSON: ${quote(body)}`,
        failure: "bad_response",
      };
    const ops = OpsSchema.safeParse(json);
    if (!ops.success) {
      return {
        kind: "transport",
        message: `app answered 206 with invalid ops (${ops.error.issues[0]?.message ?? "?"}): ${quote(body)}`,
        failure: "bad_response",
      };
    }
    const retryAfterMs = parseRetryAfter(header("retry-after"), nowMs);
    return { kind: "ops", ops: ops.data, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  const noRetryHeader = header("x-inngest-no-retry");
  const isSdkAnswer = noRetryHeader !== null && noRetryHeader !== undefined;
  if (status === 401)
    return {
      kind: "transport",
      message: `app answered 401 (bad or missing signature): ${quote(body)}`,
      failure: "signature",
    };
  if (isSdkAnswer && isJson && (status >= 400 || status >= 500)) {
    const retryAfterMs = parseRetryAfter(header("retry-after"), nowMs);
    return {
      kind: "error",
      error: toSerializedError(json),
      noRetry: noRetryHeader === "true",
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  return {
    kind: "transport",
    message: `app answered ${status} ${quote(body)}`,
    failure: `http_${Math.floor(status / 100)}xx`,
  };
}
