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
  hashSigningKey,
  lateCheckpointReply,
  MaxBodyBytes,
  partitionOfDispatch,
  Subjects,
} from "@jetstep/core";
import {
  request as busRequest,
  type JetstepBuckets,
  type Nats,
  storedPartitionCount,
} from "@jetstep/jetstream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { parseJson } from "./json-body.ts";
import { maxMessageBytes } from "./message-size.ts";

/** How long the partition's owner may take to record a checkpoint (its append retries for up to 30 s). */
const CHECKPOINT_TIMEOUT_MS = 35_000;

export interface CheckpointRouteDeps {
  nats: Nats;
  /** The LEASES bucket, which holds the deployment's partition count. */
  leases: JetstepBuckets["leases"];
  /** Production: the app must send `Authorization: Bearer <hashed signing key>`. */
  signingKey?: string;
  /**
   * An executor in this process: it records checkpoints of the partitions it owns directly
   * (undefined for the others, which go over NATS).
   */
  local?: (partition: number, request: CheckpointRequest) => Promise<CheckpointReply> | undefined;
  /** A monotonic clock in ms (default `performance.now`), timing the owner's reply; tests inject one. */
  clock?: () => number;
}

/** The deployment's partition count, read once it is set (fixed once the first executor starts). */
export function partitionCounter(leases: JetstepBuckets["leases"]): () => Promise<number | undefined> {
  let partitions: number | undefined;
  return async () => {
    partitions ??= await storedPartitionCount(leases);
    return partitions;
  };
}

/** Route options of the checkpoint routes: the signing key is checked before the body is read. */
export function checkpointRouteOptions(signingKey: string | undefined) {
  const expectedAuth = signingKey ? `Bearer ${hashSigningKey(signingKey)}` : undefined;
  return {
    bodyLimit: MaxBodyBytes.large,
    onRequest: async (req: FastifyRequest, reply: FastifyReply) => {
      if (expectedAuth && req.headers.authorization !== expectedAuth)
        return reply
          .status(401)
          .send({ status: 401, error: "authorization: a Bearer of the hashed signing key is required" });
    },
  };
}

/** A 400 naming the first issue's field. */
export function fieldError(issues: readonly { path: PropertyKey[]; message: string }[]): string {
  const issue = issues[0];
  return `${issue?.path.map(String).join(".") || "body"}: ${issue?.message ?? "invalid"}`;
}

/**
 * Hands a checkpoint to the owner of `partition`: an executor in this process if it owns it, else
 * over NATS (one message: a request too large for one is a 413 here, not a failure there). A 200
 * that came back later than the owner's lease was valid for is answered as a 409
 * (`lateCheckpointReply`): the app must not run its next step on it.
 */
export async function deliverCheckpoint(
  deps: CheckpointRouteDeps,
  partition: number,
  request: CheckpointRequest,
): Promise<CheckpointReply | { status: 413; message: string }> {
  const clock = deps.clock ?? (() => performance.now());
  const sentAt = clock();
  const local = deps.local?.(partition, request);
  if (local) return lateCheckpointReply(await local, clock() - sentAt);
  const size = Buffer.byteLength(JSON.stringify(request));
  const max = maxMessageBytes(deps.nats);
  if (size > max)
    return {
      status: 413,
      message: `steps: ${size} bytes to forward to the run's executor; at most ${max} (one NATS message)`,
    };
  return lateCheckpointReply(await forward(deps.nats, partition, request), clock() - sentAt);
}

export function registerCheckpointRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: any server flavour (the gateway's has a pino logger)
  app: FastifyInstance<any, any, any, any>,
  deps: CheckpointRouteDeps,
): void {
  const partitionCount = partitionCounter(deps.leases);
  app.post<{ Params: { runId: string } }>(
    "/v1/checkpoint/:runId/async",
    checkpointRouteOptions(deps.signingKey),
    async (req, reply) => {
      const body = parseJson(typeof req.body === "string" ? req.body : "");
      if (!body.ok) return reply.status(400).send({ status: 400, error: body.error });
      const parsed = CheckpointBodySchema.safeParse(body.value);
      if (!parsed.success)
        return reply.status(400).send({ status: 400, error: fieldError(parsed.error.issues) });
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
      const answer = await deliverCheckpoint(deps, partition, { runId, dispatchId: qiId, steps });
      return reply
        .status(answer.status)
        .send(answer.status === 200 ? {} : { status: answer.status, error: answer.message });
    },
  );
}

/** Sends a checkpoint to the partition's owner; no owner (no responders) or no answer is a 503. */
export async function forward(
  nats: Nats,
  partition: number,
  request: CheckpointRequest,
): Promise<CheckpointReply> {
  try {
    const msg = await busRequest(
      nats,
      Subjects.checkpoint(partition),
      JSON.stringify(request),
      CHECKPOINT_TIMEOUT_MS,
    );
    const answer = CheckpointReplySchema.safeParse(msg.json());
    return answer.success ? answer.data : { status: 503, message: "unreadable answer from the executor" };
  } catch (e) {
    return {
      status: 503,
      message: `no executor took the checkpoint of partition ${partition}: ${(e as Error).message}`,
    };
  }
}
