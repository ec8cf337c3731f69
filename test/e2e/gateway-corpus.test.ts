/**
 * Poison input is contained: a generated corpus of malformed input (malformed-corpus.ts) over every
 * gateway route, the NATS ingestion subject and the registration subject, interleaved with valid
 * events, against the gateway as `jetstep dev` runs it (any key, no signing key) and as
 * `jetstep start` runs it (event key and signing key). Fails on any 5xx, a request not answered
 * within its time limit, a rejected publish that is not dead-lettered, a dropped NATS connection,
 * a gateway that stops answering, or a valid event that was not stored and run.
 *
 * 5,000 cases per mode, 10,000 in all. CORPUS_SEED and CORPUS_CASES (per mode) regenerate or
 * resize the corpus.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Streams } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { headers } from "@nats-io/transport-node";
import { type NatsServerHandle, startNatsServer, waitFor } from "../support/index.ts";
import {
  apiFetch,
  type RecordingWorker,
  type Stack,
  signingBearer,
  startRecordingWorker,
  startStack,
} from "./harness.ts";
import { type Body, type Case, type CorpusTarget, corpus } from "./malformed-corpus.ts";

/** The dev corpus's seed; the start corpus takes the next one. */
const SEED = Number(process.env.CORPUS_SEED ?? 14);
const CASES = Number(process.env.CORPUS_CASES ?? 5000);
/** Cases in flight at once. */
const POOL = 24;
/** Longer than any answer should take: a case not answered within it counts as a hang. */
const CASE_TIMEOUT_MS = 15_000;
const VALID_EVENT = "corpus/valid";

/** What a case did wrong, or null. */
type Outcome = string | null;

async function runHttp(stack: Stack, c: Extract<Case, { kind: "http" }>): Promise<Outcome> {
  const noBody = c.method === "GET" || c.method === "HEAD";
  const res = await fetch(`${stack.url}${c.path}`, {
    method: c.method,
    headers: c.headers,
    ...(c.body !== undefined && !noBody ? { body: c.body } : {}),
    signal: AbortSignal.timeout(CASE_TIMEOUT_MS),
  });
  if (c.stream) {
    const reader = res.body?.getReader();
    await reader?.read();
    await reader?.cancel();
  }
  const text = c.stream ? "" : await res.text();
  return res.status >= 500 ? `${res.status} ${text.slice(0, 300)}` : null;
}

interface Answer {
  status?: number;
  ids?: string[];
  error?: string;
}

function natsHeaders(values: Record<string, string>) {
  const h = headers();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}

async function request(nats: Nats, subject: string, body: Body, extra: Record<string, string> = {}) {
  const m = await nats.nc.request(subject, body, { timeout: CASE_TIMEOUT_MS, headers: natsHeaders(extra) });
  return m.json<Answer>();
}

async function sendValid(
  stack: Stack,
  nats: Nats,
  key: string,
  c: Extract<Case, { kind: "valid" }>,
): Promise<Outcome> {
  const { event, traceparent } = c;
  const body = JSON.stringify(event);
  const trace: Record<string, string> = traceparent === undefined ? {} : { traceparent };
  // Over NATS the event key goes in a header (required as `jetstep start` runs).
  const overNats = { ...trace, "Jetstep-Event-Key": key };
  if (c.via === "nats-publish") {
    nats.nc.publish("jetstep.events", body, { headers: natsHeaders(overNats) });
    return null;
  }
  const answer =
    c.via === "http"
      ? ((await (
          await fetch(`${stack.url}/e/${key}`, {
            method: "POST",
            body,
            headers: { "content-type": "application/json", ...trace },
            signal: AbortSignal.timeout(CASE_TIMEOUT_MS),
          })
        ).json()) as Answer)
      : await request(nats, "jetstep.events", body, overNats);
  return answer.status === 200 && answer.ids?.[0] === event.id
    ? null
    : `valid event ${event.id} refused: ${JSON.stringify(answer).slice(0, 300)}`;
}

/** Runs every case with at most POOL in flight; resolves with the failures and what was sent. */
async function runCorpus(
  stack: Stack,
  nats: Nats,
  target: CorpusTarget,
  seed: number,
): Promise<{ failures: string[]; valid: string[]; published: number; cases: number }> {
  const failures: string[] = [];
  const valid: string[] = [];
  let published = 0;
  let cases = 0;
  const key = target.eventKeys[0] ?? "dev";
  const generated = corpus(seed, CASES, target);
  const runOne = async (c: Case): Promise<Outcome> => {
    switch (c.kind) {
      case "http":
        return runHttp(stack, c);
      case "nats-request": {
        const answer = await request(nats, c.subject, c.body, c.headers);
        return typeof answer.status !== "number" || answer.status >= 500
          ? `answered ${JSON.stringify(answer).slice(0, 300)}`
          : null;
      }
      case "nats-publish":
        nats.nc.publish(c.subject, c.body);
        published++;
        return null;
      case "valid":
        valid.push(c.event.id);
        return sendValid(stack, nats, key, c);
    }
  };
  const lane = async () => {
    for (let next = generated.next(); !next.done; next = generated.next()) {
      const c = next.value;
      const n = cases++;
      const outcome = await runOne(c).catch((e: Error) => `${e.name}: ${e.message}`);
      if (outcome) failures.push(`#${n} ${c.label}: ${outcome}`);
    }
  };
  await Promise.all(Array.from({ length: POOL }, lane));
  return { failures, valid, published, cases };
}

for (const mode of ["dev", "start"] as const) {
  describe(`malformed input corpus, as jetstep ${mode} runs the gateway`, () => {
    const signingKey = "signkey-test-0123456789abcdef";
    const eventKeys = mode === "start" ? ["corpus-key"] : [];
    let server: NatsServerHandle;
    let stack: Stack;
    let nats: Nats;
    let app: RecordingWorker;
    /** Status changes of the runtime's NATS connection: a disconnect means a subject or payload the server refused. */
    const connection: string[] = [];

    before(async () => {
      server = await startNatsServer();
      stack = await startStack({
        nats: server,
        ...(mode === "start" ? { eventKeys, signingKey } : {}),
      });
      void (async () => {
        for await (const s of stack.runtime.nats.nc.status()) connection.push(s.type);
      })();
      nats = await connectNats({ servers: server.url });
      app = await startRecordingWorker(stack, {
        appId: `corpus-${mode}`,
        event: VALID_EVENT,
        ...(mode === "start" ? { signingKey } : {}),
      });
    });
    after(async () => {
      await app?.close();
      await nats?.close();
      await stack?.stop();
      await server?.stop();
    });

    it(`answers ${CASES} generated cases without a 5xx or a hang, and stores and runs every valid event`, async () => {
      const deadBefore = (await nats.jsm.streams.info(Streams.deadLetters)).state.messages;
      const target: CorpusTarget = {
        eventKeys,
        authorization: mode === "start" ? signingBearer(signingKey) : undefined,
        validEvent: VALID_EVENT,
        functionId: app.functionId,
        idPrefix: `${mode}-`,
        knownRunIds: () => [...app.runIds],
      };
      const started = Date.now();
      const seed = SEED + (mode === "start" ? 1 : 0);
      const result = await runCorpus(stack, nats, target, seed);
      const elapsed = Date.now() - started;
      assert.equal(result.cases, CASES);
      assert.deepEqual(result.failures.slice(0, 20), [], `seed ${seed}: ${result.failures.length} failures`);

      // Every valid event ran (the worker saw it) and its run completed.
      const notRun = () => result.valid.filter((id) => !app.seen.has(id));
      await waitFor(() => notRun().length === 0, { timeoutMs: 60_000 }).catch(() =>
        assert.fail(`${notRun().length} valid events not run, e.g. ${notRun().slice(0, 5)}`),
      );
      const notCompleted: string[] = [];
      for (let i = 0; i < result.valid.length; i += POOL) {
        await Promise.all(
          result.valid.slice(i, i + POOL).map(async (id) => {
            const runs = await waitFor(
              async () => {
                const res = await apiFetch(`${stack.url}/v1/events/${encodeURIComponent(id)}/runs`);
                const body = (await res.json()) as { data?: { status: string }[] };
                return body.data?.some((r) => r.status === "Completed") ? body.data : null;
              },
              { timeoutMs: 30_000 },
            ).catch(() => null);
            if (!runs) notCompleted.push(id);
          }),
        );
      }
      assert.deepEqual(notCompleted, []);

      // Every rejected plain publish is in DEAD_LETTERS.
      await waitFor(
        async () =>
          (await nats.jsm.streams.info(Streams.deadLetters)).state.messages === deadBefore + result.published,
        { timeoutMs: 30_000, message: `not all ${result.published} rejected publishes were dead-lettered` },
      );
      assert.deepEqual(
        connection.filter((t) => t === "disconnect" || t === "error"),
        [],
      );
      assert.equal((await apiFetch(`${stack.url}/v1/functions`)).status, 200, "the gateway still answers");
      console.log(
        `${mode}: ${result.cases} cases (${result.valid.length} valid events, ${result.published} rejected publishes) in ${elapsed} ms`,
      );
    });
  });
}
