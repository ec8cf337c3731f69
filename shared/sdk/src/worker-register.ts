/**
 * Registration of a NATS worker's app: the body the HTTP SDK POSTs to `/fn/register`, sent as a
 * request to `jetstep.register`, which gateways answer with the same validation and storage.
 */
import { Subjects } from "@jetstep/core/protocol";
import {
  type NatsConnection,
  NoRespondersError,
  headers as natsHeaders,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import type { Logger } from "./logger.ts";
import type { RegisterBody } from "./register.ts";
import { hashSigningKey } from "./signature.ts";
import { SDK_IDENT } from "./version.ts";
import { Header } from "./wire.ts";

/**
 * How a registration ended: accepted (`modified` = the gateway stored a change), or rejected with
 * the gateway's status and error (status 0: the worker closed before any gateway answered).
 */
export type RegistrationOutcome =
  | { ok: true; modified: boolean }
  | { ok: false; status: number; error: string };

export interface RegisterOverNatsArgs {
  nc: NatsConnection;
  body: RegisterBody;
  framework: string;
  signingKey: string | undefined;
  log: Logger;
  /** Per request (default 5 s). */
  requestTimeoutMs?: number;
  /** First retry delay, doubled up to `maxDelayMs` (defaults 250 ms and 10 s). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Stops retrying (the loop resolves with status 0). */
  signal: AbortSignal;
}

/**
 * Registers until a gateway answers: no responders, timeouts and 5xx answers are retried with
 * backoff (a gateway may start after the worker); a 4xx answer (invalid functions, wrong signing
 * key) is logged as an error naming the problem and returned — retrying the same body cannot help.
 * Never throws.
 */
export async function registerOverNats(args: RegisterOverNatsArgs): Promise<RegistrationOutcome> {
  const { nc, log } = args;
  const headers = natsHeaders();
  headers.set(Header.ContentType, "application/json");
  headers.set(Header.Sdk, SDK_IDENT);
  headers.set(Header.Framework, args.framework);
  if (args.signingKey) headers.set(Header.Authorization, `Bearer ${hashSigningKey(args.signingKey)}`);
  const payload = JSON.stringify(args.body);
  const maxDelay = args.maxDelayMs ?? 10_000;
  let delay = args.initialDelayMs ?? 250;
  let failures = 0;
  while (!args.signal.aborted) {
    let problem: string;
    try {
      const reply = await nc.request(Subjects.workerRegister, payload, {
        timeout: args.requestTimeoutMs ?? 5_000,
        headers,
      });
      const answer = parseReply(reply.string());
      if (answer.ok) {
        log[failures > 0 ? "info" : "debug"](
          { appId: args.body.appName, functions: args.body.functions.length, modified: answer.modified },
          "registered over NATS",
        );
        return answer;
      }
      if (answer.status >= 400 && answer.status < 500) {
        log.error(
          { appId: args.body.appName, status: answer.status, error: answer.error },
          `registration rejected: ${answer.error}`,
        );
        return answer;
      }
      problem = `gateway answered ${answer.status}: ${answer.error}`;
    } catch (e) {
      problem = describeRequestError(e);
    }
    if (args.signal.aborted) break;
    failures++;
    // The first failure is worth a warning; later ones repeat it, so only at debug level.
    log[failures === 1 ? "warn" : "debug"](
      { appId: args.body.appName, retryInMs: delay, subject: Subjects.workerRegister },
      `could not register over NATS (${problem}); retrying`,
    );
    await sleep(delay, args.signal);
    delay = Math.min(delay * 2, maxDelay);
  }
  return { ok: false, status: 0, error: "worker closed before a gateway answered its registration" };
}

function parseReply(text: string): RegistrationOutcome {
  let reply: { ok?: unknown; modified?: unknown; status?: unknown; error?: unknown };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch {
    return { ok: false, status: 502, error: `reply is not JSON: ${text.slice(0, 200)}` };
  }
  if (reply.ok === true && reply.error === undefined) return { ok: true, modified: reply.modified === true };
  const status = typeof reply.status === "number" ? reply.status : 500;
  const error = typeof reply.error === "string" ? reply.error : `unexpected reply ${text.slice(0, 200)}`;
  return { ok: false, status, error };
}

function describeRequestError(e: unknown): string {
  if (e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders()))
    return `no gateway is listening on ${Subjects.workerRegister}`;
  if (e instanceof TimeoutError || (e instanceof Error && e.cause instanceof TimeoutError))
    return "no gateway answered in time";
  return e instanceof Error ? e.message : String(e);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
