/**
 * Shared by the gateway's route tests (not exported from index.ts): fakes of the few NATS calls the
 * checkpoint and endpoint routes make, a run log held in memory, and a fastify app parsing bodies as
 * the gateway does.
 */
import { Keys, type RunLogEntry, type StoredEvent, Subjects } from "@jetstep/core";
import {
  connectNats,
  ensureStreams,
  type JetstepBuckets,
  type LogMessage,
  type Nats,
  openBuckets,
  Publisher,
  RunLog,
  type SnapshotReader,
} from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from "fastify";
import { type NatsServerHandle, startNatsServer } from "../../../test/support/index.ts";
import { buildGateway, defaultGatewayConfig, type GatewayConfig } from "./gateway.ts";

/** A fastify app that hands routes their body as a string, as `buildGateway` does. */
export function stringBodyApp(): FastifyInstance {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));
  return app;
}

/** A request sent on the fake connection: its subject and JSON payload. */
export interface SentRequest {
  subject: string;
  payload: unknown;
}

/**
 * The part of a NATS connection the checkpoint routes use: `info.max_payload` and `request`, which
 * answers with `answer(subject, payload)` (a throw is what no responders looks like).
 */
export function fakeNats(
  answer: (subject: string, payload: unknown) => unknown = () => {
    throw new Error("503 no responders");
  },
  maxPayload = 1024 * 1024,
): { nats: Nats; sent: SentRequest[] } {
  const sent: SentRequest[] = [];
  const nc = {
    info: { max_payload: maxPayload },
    request: async (subject: string, data: string) => {
      const payload = JSON.parse(data) as unknown;
      sent.push({ subject, payload });
      const reply = answer(subject, payload);
      return { json: () => reply };
    },
  };
  return { nats: { nc } as unknown as Nats, sent };
}

/** A LEASES bucket holding the deployment's partition count (none: no executor started yet). */
export function fakeLeases(partitions: number | undefined): JetstepBuckets["leases"] {
  const get = async (key: string) =>
    key === Keys.partitionCount && partitions !== undefined
      ? { operation: "PUT", string: () => String(partitions) }
      : null;
  return { get } as unknown as JetstepBuckets["leases"];
}

/** Snapshots of no run: every run is read from its log. */
export const noSnapshots = (): SnapshotReader => ({ get: async () => undefined });

/** Run logs in memory, each one message: what `readRun` reads of a `RunLog`. */
export class MemoryRunLog {
  readonly runs = new Map<string, RunLogEntry[]>();

  async read(runId: string, afterSeq = 0): Promise<LogMessage[]> {
    const entries = this.runs.get(runId);
    return entries && afterSeq < 1 ? [{ seq: 1, entries }] : [];
  }

  async lastSeq(runId: string): Promise<number> {
    return this.runs.has(runId) ? 1 : 0;
  }

  /** This log as the `RunLog` a route takes (only `read` and `lastSeq` are there). */
  asRunLog(): RunLog {
    return this as unknown as RunLog;
  }
}

/** A stored event named `name`. */
export const storedEvent = (id: string, name = "shop/order.placed", data = {}): StoredEvent => ({
  id,
  name,
  data,
  ts: 1_700_000_000_000,
});

/** The first entry of a run's log: the run of `fnId` started by `event` on `partition`. */
export function scheduled(
  runId: string,
  fnId: string,
  opts: { partition?: number; event?: StoredEvent } = {},
): RunLogEntry {
  const event = opts.event ?? storedEvent(`${runId}-event`);
  return {
    n: 1,
    ts: 1_700_000_000_000,
    type: "run.scheduled",
    runId,
    fnId,
    appId: "shop",
    url: "http://app.test/api/inngest",
    maxAttempts: 4,
    partition: opts.partition ?? 0,
    event,
    events: [event],
  };
}

/** An entry without its number and time (`then` gives them). */
type Unnumbered = RunLogEntry extends infer E ? (E extends RunLogEntry ? Omit<E, "n" | "ts"> : never) : never;

/** Entries after `scheduled`, numbered from 2. */
export function then(...entries: Unnumbered[]): RunLogEntry[] {
  return entries.map((e, i) => ({ ...e, n: i + 2, ts: 1_700_000_001_000 + i }) as RunLogEntry);
}

/** A response's JSON body, typed loosely for assertions. */
export function bodyOf(res: LightMyRequestResponse): {
  status?: number;
  error?: string;
  [k: string]: unknown;
} {
  return res.body === "" ? {} : (res.json() as { status?: number; error?: string });
}

/** What a gateway test sees of an answer: its status and JSON body. */
export interface Answer {
  status: number;
  body: { status?: number; error?: string; [k: string]: unknown };
}

/** `buildGateway` on a private nats-server (ephemeral port, temporary store), asked by `inject()`. */
export interface TestGateway {
  app: Awaited<ReturnType<typeof buildGateway>>;
  nats: Nats;
  buckets: JetstepBuckets;
  runLog: RunLog;
  /** Sends a request; a non-string body is sent as JSON. */
  send(
    method: InjectOptions["method"],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Answer>;
  /** Appends a run's whole log (numbered entries) in one message. */
  writeRun(entries: RunLogEntry[]): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a nats-server with Jetstep's streams and buckets, and a gateway on it (`config` over the defaults). */
export async function startTestGateway(config: Partial<GatewayConfig> = {}): Promise<TestGateway> {
  const server: NatsServerHandle = await startNatsServer();
  const nats = await connectNats({ servers: server.url });
  await ensureStreams(nats.jsm, { replicas: 1 });
  const buckets = await openBuckets(nats, { replicas: 1 });
  const app = await buildGateway({
    nats,
    buckets,
    log: silentLogger(),
    config: { ...defaultGatewayConfig(), ...config },
  });
  await app.ready();
  const publisher = new Publisher(nats.nc);
  const runLog = new RunLog(nats.jsm, publisher);
  return {
    app,
    nats,
    buckets,
    runLog,
    async send(method, url, body, headers = {}) {
      const res = await app.inject({
        method,
        url,
        headers,
        ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
      });
      return { status: res.statusCode, body: bodyOf(res) };
    },
    async writeRun(entries) {
      const runId = entries[0]?.type === "run.scheduled" ? entries[0].runId : "";
      const r = await runLog.append(runId, entries, 0);
      if (!r.ok) throw new Error(`run ${runId} not written: ${JSON.stringify(r)}`);
    },
    async stop() {
      await app.close();
      publisher.close();
      await nats.close();
      await server.stop();
    },
  };
}

/** Another gateway on the same NATS (and buckets), with `config` over the defaults; close it when done. */
export function secondGateway(gw: TestGateway, config: Partial<GatewayConfig>) {
  return buildGateway({
    nats: gw.nats,
    buckets: gw.buckets,
    log: silentLogger(),
    config: { ...defaultGatewayConfig(), ...config },
  });
}

/** Subscribes to a partition's inbox and keeps the commands sent there. */
export function inboxCommands(nats: Nats, partition: number): { commands: unknown[]; stop(): void } {
  const commands: unknown[] = [];
  const sub = nats.nc.subscribe(Subjects.inbox(partition), {
    callback: (_e, m) => {
      commands.push(m.json());
    },
  });
  return { commands, stop: () => sub.unsubscribe() };
}

/** Registers app `appName` at http://app.test/api with one function `fnId` of one step, on `event`. */
export async function registerOneStepFunction(
  gw: TestGateway,
  appName: string,
  fnId: string,
  event: string,
): Promise<void> {
  const runtime = { type: "http", url: "http://app.test/api" };
  const registered = await gw.send("POST", "/fn/register", {
    url: "http://app.test/api",
    appName,
    functions: [{ id: fnId, triggers: [{ event }], steps: { step: { id: "step", name: "step", runtime } } }],
  });
  if (registered.status !== 200) throw new Error(`registering ${appName}: ${registered.body.error}`);
}
