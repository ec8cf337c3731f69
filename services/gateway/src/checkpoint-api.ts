/**
 * `POST /v1/checkpoint/:runId/async`: an app reports steps it ran inside one call (the official
 * SDK v4's checkpointing; ours too). The gateway checks the body and forwards it to the owner of
 * the run's partition (named by the dispatch id, `qi_id`) over `jetstep.checkpoint.<p>`; the owner
 * answers once the steps are in the run's log. Status codes are those the SDKs act on: 2xx
 * recorded; 409 stale dispatch (the SDK stops; its answer to the call is ignored); anything else is
 * retried by the SDK and then answered the classic way (the step result rides in the call's
 * answer), so no result is lost when no executor can take it now.
 */
import {
  CheckpointBodySchema,
  type CheckpointReply,
  CheckpointReplySchema,
  type CheckpointRequest,
  checkToken,
  partitionOfDispatch,
  Subjects,
} from "@jetstep/core";
import type { Nats } from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { hashSigningKey } from "./register-app.ts";

/** How long the partition's owner may take to record a checkpoint (its append retries for up to 30 s). */
const CHECKPOINT_TIMEOUT_MS = 35_000;

export interface CheckpointRouteDeps {
  nats: Nats;
  /** Production: the app must send `Authorization: Bearer <hashed signing key>`. */
  signingKey?: string;
  /**
   * An executor in this process: it records checkpoints of the partitions it owns directly
   * (undefined for the others, which go over NATS).
   */
  local?: (partition: number, request: CheckpointRequest) => Promise<CheckpointReply> | undefined;
}

export function registerCheckpointRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: any server flavour (the gateway's has a pino logger)
  app: FastifyInstance<any, any, any, any>,
  deps: CheckpointRouteDeps,
): void {
  const expectedAuth = deps.signingKey ? `Bearer ${hashSigningKey(deps.signingKey)}` : undefined;

  app.post<{ Params: { runId: string } }>("/v1/checkpoint/:runId/async", async (req, reply) => {
    if (expectedAuth && req.headers.authorization !== expectedAuth)
      return reply
        .status(401)
        .send({ status: 401, error: "authorization: a Bearer of the hashed signing key is required" });
    let body: unknown;
    try {
      body = JSON.parse(typeof req.body === "string" ? req.body : "");
    } catch (e) {
      return reply.status(400).send({ status: 400, error: `body: not JSON (${(e as Error).message})` });
    }
    const parsed = CheckpointBodySchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return reply
        .status(400)
        .send({ status: 400, error: `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}` });
    }
    const { run_id: runId, qi_id: qiId, steps } = parsed.data;
    if (runId !== req.params.runId)
      return reply
        .status(400)
        .send({ status: 400, error: `run_id: ${runId} is not the run in the path (${req.params.runId})` });
    let partition: number;
    try {
      checkToken("runId", runId);
      partition = partitionOfDispatch(qiId);
    } catch (e) {
      return reply.status(400).send({ status: 400, error: (e as Error).message });
    }
    const request: CheckpointRequest = { runId, dispatchId: qiId, steps };
    const answer = await (deps.local?.(partition, request) ?? forward(deps.nats, partition, request));
    return reply
      .status(answer.status)
      .send(answer.status === 200 ? {} : { status: answer.status, error: answer.message });
  });
}

/** Sends a checkpoint to the partition's owner; no owner (no responders) or no answer is a 503. */
export async function forward(
  nats: Nats,
  partition: number,
  request: CheckpointRequest,
): Promise<CheckpointReply> {
  try {
    const msg = await nats.nc.request(Subjects.checkpoint(partition), JSON.stringify(request), {
      timeout: CHECKPOINT_TIMEOUT_MS,
    });
    const answer = CheckpointReplySchema.safeParse(msg.json());
    return answer.success ? answer.data : { status: 503, message: "unreadable answer from the executor" };
  } catch (e) {
    return {
      status: 503,
      message: `no executor took the checkpoint of partition ${partition}: ${(e as Error).message}`,
    };
  }
}
