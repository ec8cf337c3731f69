/**
 * Who made a request, for the audit log of bulk operations: the credential it carried (checked
 * by api-auth.ts before the route ran), told apart by a short digest, never the key itself; what
 * the caller calls itself (`X-Jetstep-Actor`, e.g. "dev UI" or a person's name, not verified); and
 * the address it came from.
 */
import { createHash } from "node:crypto";
import { type Caller, hashSigningKey } from "@jetstep/core";
import type { FastifyRequest } from "fastify";

const MAX_ACTOR = 100;

export function callerOf(req: FastifyRequest, signingKey: string | undefined): Caller {
  const auth = req.headers.authorization;
  const token = typeof auth === "string" && /^Bearer /i.test(auth) ? auth.slice(7).trim() : "";
  const raw = req.headers["x-jetstep-actor"];
  const actor = (Array.isArray(raw) ? raw[0] : raw)?.trim().slice(0, MAX_ACTOR);
  const signing = signingKey !== undefined && (token === signingKey || token === hashSigningKey(signingKey));
  return {
    credential: token === "" ? "none" : signing ? "signing key" : "api key",
    ...(token ? { keyId: createHash("sha256").update(token).digest("hex").slice(0, 12) } : {}),
    ...(actor ? { actor } : {}),
    ip: req.ip,
  };
}
