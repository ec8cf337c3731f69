/**
 * Checkpoints (the protocol of the official SDK v4): when a call carries `ctx.fn_id` and
 * `ctx.qi_id`, the SDK runs consecutive `step.run`s in that one call and reports each result as it
 * completes, waiting for Jetstep to have it in the run's log before running the next. Over HTTP a
 * checkpoint is `POST {baseUrl}/v1/checkpoint/:runId/async`; a NATS worker sends it straight to the
 * run's executor (`jetstep.checkpoint.<partition>`).
 *
 * Outcomes: `recorded`; `stale` (409: the call was replaced; stop, the answer is ignored);
 * `unavailable` after retries (the step's result then rides in the call's answer, as without
 * checkpoints, so it is never lost).
 */
import http from "node:http";
import https from "node:https";
import {
  CheckpointReplySchema,
  lateCheckpointReply,
  partitionOfDispatch,
  Subjects,
} from "@jetstep/core/protocol";
import type { NatsConnection } from "@nats-io/transport-node";
import { hashSigningKey } from "./signature.ts";
import { type OutgoingOp, StepOpCode } from "./wire.ts";

export type CheckpointOutcome = "recorded" | "stale" | "unavailable";

/** A step as a checkpoint reports it. */
export interface CheckpointedStep {
  id: string;
  op: "StepRun";
  name?: string;
  displayName?: string;
  opts?: Record<string, unknown>;
  data: unknown;
  /** Start and duration, in nanoseconds. */
  timing: { a: number; b: number };
  /** The span id the step ran under (when the call came with a trace), for the executor's step span. */
  span_id?: string;
}

/** Reports a `step.run` that ran in this call: its op, its timing, and the span it ran under. */
export function checkpointedStep(
  op: OutgoingOp,
  timing: CheckpointedStep["timing"],
  spanId?: string,
): CheckpointedStep {
  return {
    id: op.id,
    op: StepOpCode.StepRun,
    ...(op.name !== undefined ? { name: op.name } : {}),
    displayName: op.displayName ?? op.id,
    ...(op.opts ? { opts: op.opts } : {}),
    data: op.data ?? null,
    timing,
    ...(spanId ? { span_id: spanId } : {}),
  };
}

export interface CheckpointInput {
  runId: string;
  fnId: string;
  dispatchId: string;
  /** The steps run, then any `defer()` ops riding along. */
  steps: (CheckpointedStep | OutgoingOp)[];
}

/** Sends one checkpoint, retrying what may pass later; resolves with the outcome, never rejects. */
export type Checkpointer = (input: CheckpointInput) => Promise<CheckpointOutcome>;

/** Attempts per checkpoint, and the first backoff (doubling), as the official SDK. */
const ATTEMPTS = 5;
const FIRST_BACKOFF_MS = 100;

async function withRetries(send: () => Promise<number>): Promise<CheckpointOutcome> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (attempt > 0) {
      const delay = FIRST_BACKOFF_MS * 2 ** (attempt - 1) + Math.random() * 100;
      await new Promise((r) => setTimeout(r, delay));
    }
    let status: number;
    try {
      status = await send();
    } catch {
      continue;
    }
    if (status >= 200 && status < 300) return "recorded";
    if (status === 409) return "stale";
  }
  return "unavailable";
}

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 64 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

/** Checkpoints over HTTP to the gateway at `baseUrl` (keep-alive; node:http costs less CPU than fetch). */
export function httpCheckpointer(baseUrl: string, signingKey?: string, timeoutMs = 60_000): Checkpointer {
  const authorization = `Bearer ${signingKey ? hashSigningKey(signingKey) : ""}`;
  return (input) => {
    const url = new URL(`${baseUrl}/v1/checkpoint/${encodeURIComponent(input.runId)}/async`);
    const body = JSON.stringify({
      run_id: input.runId,
      fn_id: input.fnId,
      qi_id: input.dispatchId,
      steps: input.steps,
      ts: Date.now(),
    });
    const mod = url.protocol === "https:" ? https : http;
    return withRetries(
      () =>
        new Promise<number>((resolve, reject) => {
          const req = mod.request(
            url,
            {
              method: "POST",
              agent: agents[url.protocol as "http:" | "https:"],
              timeout: timeoutMs,
              headers: {
                "content-type": "application/json",
                "content-length": Buffer.byteLength(body),
                authorization,
              },
            },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
              res.on("error", reject);
            },
          );
          req.on("timeout", () => req.destroy(new Error("checkpoint timed out")));
          req.on("error", reject);
          req.end(body);
        }),
    );
  };
}

/** Checkpoints over NATS, straight to the executor that owns the run's partition. */
export function natsCheckpointer(nc: () => NatsConnection, timeoutMs = 60_000): Checkpointer {
  return (input) => {
    let partition: number;
    try {
      partition = partitionOfDispatch(input.dispatchId);
    } catch {
      return Promise.resolve("unavailable");
    }
    const payload = JSON.stringify({ runId: input.runId, dispatchId: input.dispatchId, steps: input.steps });
    return withRetries(async () => {
      const sentAt = performance.now();
      const msg = await nc().request(Subjects.checkpoint(partition), payload, { timeout: timeoutMs });
      const reply = CheckpointReplySchema.safeParse(msg.json());
      // A 200 that came back later than the executor's lease was valid for does not let this call
      // run its next step (the run's next owner may be running it): a 409, as the gateway does.
      return reply.success ? lateCheckpointReply(reply.data, performance.now() - sentAt).status : 503;
    });
  };
}
