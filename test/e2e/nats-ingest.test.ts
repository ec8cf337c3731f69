/** NATS ingestion: request and plain publish, valid and invalid (dead-lettered with the reason). */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Streams, Subjects } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { waitFor } from "../support/index.ts";
import { type Stack, startStack } from "./harness.ts";

describe("NATS ingestion", () => {
  let stack: Stack;
  let nats: Nats;
  const request = async (subject: string, body: string) =>
    JSON.parse(new TextDecoder().decode((await nats.nc.request(subject, body, { timeout: 5000 })).data)) as {
      ids: string[];
      status: number;
      error?: string;
    };
  const count = async (stream: string) => (await nats.jsm.streams.info(stream)).state.messages;

  before(async () => {
    stack = await startStack();
    nats = await connectNats({ servers: stack.nats.url });
  });
  after(async () => {
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
    assert.match(bad.error ?? "", /events\[1\]: name: must be a non-empty string/);
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
    assert.match(body?.reason ?? "", /event: name: /);
    assert.equal(body?.subject, Subjects.ingest);
    assert.deepEqual(JSON.parse(body?.payload ?? "null"), { data: { missing: "name" } });
  });
});
