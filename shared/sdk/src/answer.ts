import type { ExecutionResult } from "./execution-result.ts";
import { SDK_IDENT } from "./version.ts";
import { EXECUTION_VERSION, Header } from "./wire.ts";

/** An HTTP answer, independent of the framework that will write it. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Headers on every answer. */
export function baseHeaders(framework: string): Record<string, string> {
  return { [Header.ContentType]: "application/json", [Header.Sdk]: SDK_IDENT, [Header.Framework]: framework };
}

/** A JSON answer with the base headers. */
export function jsonAnswer(
  framework: string,
  status: number,
  body: unknown,
  extra: Record<string, string> = {},
): HttpAnswer {
  return { status, headers: { ...baseHeaders(framework), ...extra }, body: JSON.stringify(body) };
}

/**
 * Maps an execution result to the answer the official SDK gives (docs/PROTOCOL.md): 200 result; 206
 * ops (step errors too, with `X-Inngest-No-Retry`/`Retry-After`); 500 retriable / 400 permanent
 * function errors; 500 when a requested step is not found.
 */
export function answerExecution(framework: string, result: ExecutionResult): HttpAnswer {
  const version = { [Header.ReqVersion]: String(EXECUTION_VERSION) };
  switch (result.type) {
    case "function-resolved":
      return jsonAnswer(framework, 200, result.data, version);
    case "function-rejected":
      return jsonAnswer(framework, result.retriable === false ? 400 : 500, result.error, {
        ...version,
        ...retryHeaders(result.retriable),
      });
    case "step-ran":
      return jsonAnswer(framework, 206, [result.op, ...(result.lazy ?? [])], {
        ...version,
        ...(result.retriable === undefined ? {} : retryHeaders(result.retriable)),
      });
    case "steps-found":
      return jsonAnswer(framework, 206, result.ops, {
        ...version,
        ...(result.retriable === undefined ? {} : retryHeaders(result.retriable)),
      });
    case "step-not-found": {
      const names = result.foundSteps.map((s) => `${s.displayName} (${s.id})`).join("\n");
      const error = `Could not find step "${result.stepId}" to run; timed out.${names ? ` Found new steps: \n${names}.` : ""}`;
      return jsonAnswer(
        framework,
        500,
        {
          error,
          requestedStep: result.stepId,
          foundSteps: result.foundSteps,
          totalFoundSteps: result.foundSteps.length,
        },
        { ...version, [Header.NoRetry]: "false" },
      );
    }
    default: {
      const _exhaustive: never = result;
      return _exhaustive;
    }
  }
}

function retryHeaders(retriable: boolean | string): Record<string, string> {
  if (retriable === false) return { [Header.NoRetry]: "true" };
  if (typeof retriable === "string") return { [Header.NoRetry]: "false", [Header.RetryAfter]: retriable };
  return { [Header.NoRetry]: "false" };
}
