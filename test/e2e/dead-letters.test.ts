/**
 * Poison inside the pipeline: an event that got into EVENTS without the gateway's checks (here
 * nested 5,000 deep, which overflows the stack of whoever handles it) is retried a few times, then
 * parked in DEAD_LETTERS with the reason and listed by `GET /v1/dead-letters`; the events behind
 * it are matched and run as usual.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Subjects, ulid } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { Jetstep, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { type ServedApp, type Stack, sendEvents, startApp, startStack, waitForEventRuns } from "./harness.ts";

describe("dead letters", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let nats: Nats;

  before(async () => {
    stack = await startStack();
    const client = new Jetstep({ id: "poison", baseUrl: stack.url });
    const fn = client.createFunction({ id: "echo" }, { event: "poison/go" }, async ({ event, step }) =>
      step.run("echo", () => (event.data as { i?: number }).i ?? null),
    );
    app = await startApp(stack.url, "poison", serve({ client, functions: [fn] }));
    nats = await connectNats({ servers: stack.nats.url });
  });
  after(async () => {
    await app?.close();
    await nats?.close();
    await stack?.stop();
  });

  it("parks an event that overflows the stack, and runs the events behind it", async () => {
    const id = ulid(Date.now(), Math.random);
    const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
    const stored = `{"id":"${id}","name":"poison/go","data":{"deep":${deep}},"ts":${Date.now()}}`;
    await nats.js.publish(Subjects.event("poison/go"), stored, { msgID: id });
    const [after] = await sendEvents(stack.url, { name: "poison/go", data: { i: 7 } });
    const runs = await waitForEventRuns(stack.url, after as string);
    assert.equal(runs[0]?.output, 7, "the event behind the poison one ran");

    const letters = await waitFor(
      async () => {
        const res = await fetch(`${stack.url}/v1/dead-letters`);
        const body = (await res.json()) as {
          data: { source: string; reason: string; payload: string; deliveries?: number }[];
        };
        return body.data.find((l) => l.payload.includes(id)) ?? null;
      },
      { timeoutMs: 30_000, message: "the poison event was never dead-lettered" },
    );
    assert.match(letters.reason, /RangeError|Maximum call stack/);
    assert.ok(["matcher", "executor"].includes(letters.source), letters.source);
    const filtered = await fetch(`${stack.url}/v1/dead-letters?source=ingest`);
    assert.equal(filtered.status, 200);
    const bad = await fetch(`${stack.url}/v1/dead-letters?source=nope`);
    assert.equal(bad.status, 400);
    assert.match(
      ((await bad.json()) as { error: string }).error,
      /^source: must be ingest, matcher or executor/,
    );
  });
});
