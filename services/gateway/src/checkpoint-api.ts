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
  Keys,
  MaxBodyBytes,
  partitionOfDispatch,
  Subjects,
} from "@jetstep/core";
import type { KV, Nats } from "@jetstep/jetstream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { parseJson } from "./json-body.ts";
import { maxMessageBytes } from "./message-size.ts";
import { hashSigningKey } from "./register-app.ts";

/** How long the partition's owner may take to record a checkpoint (its append retries for up to 30 s). */
const CHECKPOINT_TIMEOUT_MS = 35_000;

export interface CheckpointRouteDeps {
  nats: Nats;
  /** The LEASES bucket, which holds the deployment's partition count. */
  leases: KV;
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
  // Fixed once the first executor or matcher starts (Keys.partitionCount), so read once.
  let partitions: number | undefined;
  const partitionCount = async () => {
    if (partitions === undefined) {
      const e = await deps.leases.get(Keys.partitionCount);
      const n = e?.operation === "PUT" ? Number(e.string()) : Number.NaN;
      if (Number.isInteger(n) && n > 0) partitions = n;
    }
    return partitions;
  };

  const options = {
    bodyLimit: MaxBodyBytes.large,
    // The signing key is checked before the body is read.
    onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
      if (expectedAuth && req.headers.authorization !== expectedAuth)
        return reply
          .status(401)
          .send({ status: 401, error: "authorization: a Bearer of the hashed signing key is required" });
    },
  };
  app.post<{ Params: { runId: string } }>("/v1/checkpoint/:runId/async", options, async (req, reply) => {
    const body = parseJson(typeof req.body === "string" ? req.body : "");
    if (!body.ok) return reply.status(400).send({ status: 400, error: body.error });
    const parsed = CheckpointBodySchema.safeParse(body.value);
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
    const count = await partitionCount();
    if (count !== undefined && partition >= count)
      return reply
        .status(400)
        .send({ status: 400, error: `qi_id: names partition ${partition}; there are ${count}` });
    const request: CheckpointRequest = { runId, dispatchId: qiId, steps };
    const local = deps.local?.(partition, request);
    if (!local) {
      // The owner is reached by one NATS message: say so rather than fail to send it.
      const size = Buffer.byteLength(JSON.stringify(request));
      const max = maxMessageBytes(deps.nats);
      if (size > max)
        return reply.status(413).send({
          status: 413,
          error: `steps: ${size} bytes to forward to the run's executor; at most ${max} (one NATS message)`,
        });
    }
    const answer = await (local ?? forward(deps.nats, partition, request));
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
