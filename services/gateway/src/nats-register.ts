/**
 * Registration over NATS, for workers (SDK `worker()`): a request on `jetstep.register` carrying
 * the body an HTTP SDK POSTs to `/fn/register` (and, with a signing key, its `authorization`
 * header) gets the same answer as that route: `{ok: true, modified, status: 200}` or
 * `{status, error}` naming the field. Gateways share the subject through a queue group. On start
 * the gateway publishes `jetstep.workers.sync`, so running workers register (again) with it.
 */
import { Queues, Subjects } from "@jetstep/core";
import { type BusMessage, type Nats, publishCore, subscribe } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import { type RegisterDeps, registerApp, unauthorizedRegistration } from "./register-app.ts";

export interface NatsRegister {
  stop(): void;
}

export function startNatsRegister(deps: RegisterDeps & { nats: Nats }): NatsRegister {
  const log: Logger = deps.log.child({ svc: "nats-register" });
  const handle = async (m: BusMessage) => {
    if (!m.reply) {
      log.warn({ subject: m.subject }, "registration published without a reply subject: ignored");
      return;
    }
    let answer: unknown;
    try {
      const unauthorized = unauthorizedRegistration(headerOf(m, "authorization"), deps.signingKey);
      answer = (unauthorized ?? (await registerApp(m.string(), { ...deps, log }))).body;
    } catch (e) {
      log.error({ err: e }, "could not store a registration received over NATS");
      answer = { status: 500, error: `could not store the registration: ${(e as Error).message}` };
    }
    try {
      m.respond(JSON.stringify(answer));
    } catch (e) {
      log.error({ err: e }, "could not answer a registration over NATS");
    }
  };
  const sub = subscribe(deps.nats, Subjects.workerRegister, (m) => void handle(m), {
    queue: Queues.register,
    onError: (err) => log.error({ err }, "registration subscription failed"),
  });
  // Workers that started before this gateway (or registered with a store since wiped) register now.
  try {
    publishCore(deps.nats, Subjects.workerSync);
  } catch (e) {
    log.warn({ err: e }, "could not ask workers to register");
  }
  return {
    stop() {
      sub.unsubscribe();
    },
  };
}

/** A header of a message, whatever the case of its name. */
function headerOf(m: BusMessage, name: string): string | undefined {
  for (const [k, values] of m.headers ?? []) if (k.toLowerCase() === name) return values[0];
  return undefined;
}
