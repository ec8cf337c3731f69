/**
 * NATS ingestion: request and plain publish, valid and invalid (dead-lettered with the reason,
 * its payload cut to fit when the letter would not), under the same limits as HTTP.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MAX_JSON_DEPTH, Streams, Subjects } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { waitFor } from "../support/index.ts";
import {
  type RecordingWorker,
  type Stack,
  startRecordingWorker,
  startStack,
  waitForEventRuns,
} from "./harness.ts";

describe("NATS ingestion", () => {
  let stack: Stack;
  let nats: Nats;
  let app: RecordingWorker;
  /** Status changes of the gateway's NATS connection (a refused subject closes it). */
  const connection: string[] = [];
  /** The last dead letter of NATS ingestion. */
  const lastLetter = async () =>
    (
      await nats.jsm.streams.getMessage(Streams.deadLetters, { last_by_subj: Subjects.deadLetter("ingest") })
    )?.json<{
      reason: string;
      status: number;
      payload: string;
      subject: string;
      payloadTruncated?: boolean;
      payloadBytes?: number;
    }>();
  const request = async (subject: string, body: string) =>
    JSON.parse(new TextDecoder().decode((await nats.nc.request(subject, body, { timeout: 5000 })).data)) as {
      ids: string[];
      status: number;
      error?: string;
    };
  const count = async (stream: string) => (await nats.jsm.streams.info(stream)).state.messages;

  before(async () => {
    stack = await startStack();
    void (async () => {
      for await (const s of stack.runtime.nats.nc.status()) connection.push(s.type);
    })();
    nats = await connectNats({ servers: stack.nats.url });
    app = await startRecordingWorker(stack, { appId: "nats-limits", event: "nats/valid" });
  });
  after(async () => {
    await app?.close();
    await nats?.close();
    await stack?.stop();
  });

  it("stores events sent by request and answers their ids, like POST /e", async () => {
    const one = await request(Subjects.ingest, JSON.stringify({ name: "nats/hello", data: { a: 1 } }));
    assert.equal(one.status, 200);
    assert.equal(one.ids.length, 1);
    const many = await request(
      `${Subjects.ingest}.orders`,
      JSON.stringify([{ name: "nats/a" }, { name: "nats/b", id: "fixed-nats-id" }]),
    );
    assert.deepEqual(many.ids[1], "fixed-nats-id");
    const stored = await waitFor(
      async () => {
        const r = await fetch(`${stack.url}/v1/events?name=nats/hello`);
        return ((await r.json()) as { data: { id: string }[] }).data[0];
      },
      { timeoutMs: 5000 },
    );
    assert.equal(stored.id, one.ids[0]);
  });

  it("answers a bad request with the same errors as HTTP and stores nothing", async () => {
    const before = await count(Streams.events);
    const bad = await request(Subjects.ingest, JSON.stringify([{ name: "ok" }, { name: "" }]));
    assert.equal(bad.status, 400);
    assert.match(bad.error ?? "", /events\[1\]\.name: must be a non-empty string/);
    const notJson = await request(Subjects.ingest, "{oops");
    assert.match(notJson.error ?? "", /invalid JSON/);
    assert.equal(await count(Streams.events), before);
  });

  it("stores plain publishes, and dead-letters rejected ones with the reason", async () => {
    const events = await count(Streams.events);
    nats.nc.publish(`${Subjects.ingest}.billing`, JSON.stringify({ name: "nats/published" }));
    nats.nc.publish(Subjects.ingest, JSON.stringify({ data: { missing: "name" } }));
    await waitFor(async () => (await count(Streams.events)) === events + 1, { timeoutMs: 5000 });
    await waitFor(async () => (await count(Streams.deadLetters)) === 1, { timeoutMs: 5000 });
    const letter = await nats.jsm.streams.getMessage(Streams.deadLetters, {
      last_by_subj: Subjects.deadLetter("ingest"),
    });
    const body = letter?.json<{ reason: string; payload: string; subject: string }>();
    assert.match(body?.reason ?? "", /event\.name: /);
    assert.equal(body?.subject, Subjects.ingest);
    assert.deepEqual(JSON.parse(body?.payload ?? "null"), { data: { missing: "name" } });
  });

  it("answers a request breaking each limit with the rule, and stores and runs the valid events around it", async () => {
    const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
    const bad: [string, RegExp][] = [
      [JSON.stringify({ name: "nats/x", id: "a\nb" }), /^event\.id: must be printable ASCII without spaces/],
      [
        JSON.stringify({ name: "nats/x", id: "i".repeat(257) }),
        /^event\.id: must be at most 256 characters$/,
      ],
      [`{"name":"nats/x","data":{"a":${deep(10_000)}}}`, /^event: nests deeper than 64 levels/],
      [
        `[{"name":"nats/valid"},{"name":"nats/x","data":{"a":${deep(4105)}}}]`,
        /^events\[1\]: nests deeper than 64/,
      ],
      [JSON.stringify({ name: "a".repeat(5000) }), /^event\.name: must be at most 256 characters$/],
      [
        JSON.stringify({ name: "日".repeat(120) }),
        /^event\.name: becomes a 1084-byte subject or key once escaped/,
      ],
      [JSON.stringify({ name: "nats/x", ts: 1e300 }), /^event\.ts: /],
    ];
    const ids: string[] = [];
    for (const [i, [body, re]] of bad.entries()) {
      const answer = await request(Subjects.ingest, body);
      assert.equal(answer.status, 400, body.slice(0, 80));
      assert.deepEqual(answer.ids, []);
      assert.match(answer.error ?? "", re);
      const ok = await request(
        Subjects.ingest,
        JSON.stringify({
          id: `nats-ok-${i}`,
          name: "nats/valid",
          data: { a: JSON.parse(deep(MAX_JSON_DEPTH - 3)) },
        }),
      );
      assert.deepEqual(ok.ids, [`nats-ok-${i}`]);
      ids.push(`nats-ok-${i}`);
    }
    for (const id of ids) {
      const [run] = await waitForEventRuns(stack.url, id, 1, 30_000);
      assert.equal(run?.status, "Completed");
    }
    assert.deepEqual(
      connection.filter((t) => t === "disconnect"),
      [],
    );
  });

  it("dead-letters a rejected publish naming the rule", async () => {
    const letters = await count(Streams.deadLetters);
    const body = `{"name":"nats/deep","data":${"[".repeat(5000)}${"]".repeat(5000)}}`;
    nats.nc.publish(Subjects.ingest, body);
    await waitFor(async () => (await count(Streams.deadLetters)) === letters + 1, { timeoutMs: 5000 });
    const letter = await lastLetter();
    assert.match(letter?.reason ?? "", /^event: nests deeper than 64 levels of objects and arrays/);
    assert.equal(letter?.status, 400);
    assert.equal(letter?.payload, body);
    assert.equal(letter?.payloadTruncated, undefined);
  });

  it("dead-letters a rejected publish as large as the server takes, its payload cut to fit and marked so", async () => {
    const letters = await count(Streams.deadLetters);
    const max = nats.nc.info?.max_payload ?? 0;
    const body = `{"name":"nats/huge","data":{"s":"${"h".repeat(max - 100)}"}}`;
    nats.nc.publish(`${Subjects.ingest}.big`, body);
    await waitFor(async () => (await count(Streams.deadLetters)) === letters + 1, {
      timeoutMs: 5000,
      message: "the rejected publish was not dead-lettered",
    });
    const letter = await lastLetter();
    assert.match(letter?.reason ?? "", /^event is \d+ bytes; at most \d+ per event$/);
    assert.equal(letter?.status, 413);
    assert.equal(letter?.subject, `${Subjects.ingest}.big`);
    assert.equal(letter?.payloadTruncated, true);
    assert.equal(letter?.payloadBytes, Buffer.byteLength(body));
    assert.ok(body.startsWith(letter?.payload ?? "-"), "the stored payload is the start of the message");
    assert.ok((letter?.payload.length ?? 0) > max / 2, "as much of it as fits");
  });
});
