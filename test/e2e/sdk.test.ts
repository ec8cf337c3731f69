/**
 * Functions written with our SDK (`jetstep`), served in this process over node:http and fastify,
 * driven end to end by Jetstep (gateway → EVENTS → matcher → INBOX → executor → app → RUNS).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Fastify from "fastify";
import { Jetstep, NonRetriableError, RetryAfterError, serve, serveFastify } from "jetstep";
import {
  getRun,
  type ServedApp,
  type Stack,
  serveApp,
  startStack,
  waitForApp,
  waitForEventRuns,
} from "./harness.ts";

describe("our SDK end to end", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const fastify = Fastify();
  const counts: Record<string, number> = {};
  const bump = (k: string) => {
    counts[k] = (counts[k] ?? 0) + 1;
    return counts[k];
  };
  let client: Jetstep;

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    client = new Jetstep({ id: "sdk-app", baseUrl: stack.url });
    const three = client.createFunction(
      { id: "three" },
      { event: "sdk/three" },
      async ({ event, step, runId, attempt }) => {
        const a = await step.run("a", () => bump(`a:${runId}`) + Number(event.data.base));
        const b = await step.run("b", () => bump(`b:${runId}`) + a);
        const c = await step.run("c", () => bump(`c:${runId}`) + b);
        return { a, b, c, attempt };
      },
    );
    const retrying = client.createFunction(
      { id: "retrying", retries: 4 },
      { event: "sdk/retry" },
      async ({ step, runId }) => {
        await step.run("first", () => bump(`first:${runId}`));
        return step.run("second", () => {
          const n = bump(`second:${runId}`);
          if (n <= 2) throw new Error(`boom ${n}`);
          return `ok after ${n}`;
        });
      },
    );
    const nonRetriable = client.createFunction(
      { id: "non-retriable" },
      { event: "sdk/nonretriable" },
      async ({ step, runId }) => {
        await step.run("bad", () => {
          bump(`bad:${runId}`);
          throw new NonRetriableError("input is invalid");
        });
      },
    );
    const exhausted = client.createFunction(
      { id: "exhausted", retries: 1 },
      { event: "sdk/exhausted" },
      async ({ step, runId }) => {
        await step.run("never", () => {
          throw new Error(`still broken ${bump(`never:${runId}`)}`);
        });
      },
    );
    const other = new Jetstep({ id: "sdk-fastify", baseUrl: stack.url });
    const retryAfter = other.createFunction(
      { id: "retry-after", retries: 1 },
      { event: "sdk/retry-after" },
      async ({ step, runId }) =>
        step.run("later", () => {
          if (bump(`later:${runId}`) === 1) throw new RetryAfterError("rate limited", 1000);
          return "done";
        }),
    );
    const parallel = other.createFunction(
      { id: "parallel" },
      { event: "sdk/parallel" },
      async ({ step, runId }) => {
        const parts = await Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            step.run(`part-${i}`, () => {
              bump(`part-${i}:${runId}`);
              return i * i;
            }),
          ),
        );
        return parts.reduce((x, y) => x + y, 0);
      },
    );
    const handlerThrows = client.createFunction(
      { id: "handler-throws", retries: 2 },
      { event: "sdk/handler-throws" },
      async ({ runId, attempt }) => {
        bump(`handler:${runId}`);
        if (attempt < 2) throw new Error(`outside any step, attempt ${attempt}`);
        return "third time";
      },
    );
    app = await serveApp(
      serve({ client, functions: [three, retrying, nonRetriable, exhausted, handlerThrows] }),
    );
    const nodeUrl = app.url;
    await fastify.register(serveFastify({ client: other, functions: [retryAfter, parallel] }));
    const fastifyUrl = `${await fastify.listen({ port: 0, host: "127.0.0.1" })}/api/inngest`;
    for (const url of [nodeUrl, fastifyUrl]) assert.equal((await fetch(url, { method: "PUT" })).status, 200);
    await waitForApp(stack.url, "sdk-app");
    await waitForApp(stack.url, "sdk-fastify");
  });
  after(async () => {
    await app?.close();
    await fastify.close();
    await stack?.stop();
  });

  it("completes a 3-step function, each step body executed exactly once", async () => {
    const { ids } = await client.send({ name: "sdk/three", data: { base: 10 } });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Completed");
    assert.deepEqual(run?.output, { a: 11, b: 12, c: 13, attempt: 0 });
    for (const s of ["a", "b", "c"]) assert.equal(counts[`${s}:${run?.run_id}`], 1, `step ${s}`);
    const full = await getRun(stack.url, run?.run_id as string);
    assert.deepEqual(
      full?.steps.map((s) => [s.name, s.output, s.attempts]),
      [
        ["a", 11, 1],
        ["b", 12, 1],
        ["c", 13, 1],
      ],
    );
  });

  it("retries a step that throws twice: 3 attempts, earlier steps not re-executed", async () => {
    const { ids } = await client.send({ name: "sdk/retry", data: {} });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, "ok after 3");
    assert.equal(counts[`first:${run?.run_id}`], 1);
    assert.equal(counts[`second:${run?.run_id}`], 3);
    assert.equal(run?.steps.find((s) => s.name === "second")?.attempts, 3);
  });

  it("fails after one attempt on NonRetriableError", async () => {
    const { ids } = await client.send({ name: "sdk/nonretriable", data: {} });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Failed");
    assert.equal(run?.error?.name, "NonRetriableError");
    assert.equal(run?.error?.message, "input is invalid");
    assert.equal(counts[`bad:${run?.run_id}`], 1);
  });

  it("fails when retries are exhausted, with the last error recorded", async () => {
    const { ids } = await client.send({ name: "sdk/exhausted", data: {} });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Failed");
    assert.equal(run?.error?.message, "still broken 2");
    assert.equal(counts[`never:${run?.run_id}`], 2);
    assert.equal(run?.steps[0]?.status, "failed");
  });

  it("retries an error thrown outside any step at function level", async () => {
    const { ids } = await client.send({ name: "sdk/handler-throws", data: {} });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, "third time");
    assert.equal(counts[`handler:${run?.run_id}`], 3);
  });

  it("honours RetryAfterError's delay (served by fastify)", async () => {
    const sentAt = Date.now();
    const { ids } = await client.send({ name: "sdk/retry-after", data: {} });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Completed");
    assert.ok(Date.now() - sentAt >= 1000, "the retry waited for Retry-After");
    assert.equal(counts[`later:${run?.run_id}`], 2);
  });

  it("runs parallel steps planned together, each once", async () => {
    const { ids } = await client.send({ name: "sdk/parallel", data: {} });
    const [run] = await waitForEventRuns(stack.url, ids[0] as string);
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, 0 + 1 + 4 + 9 + 16);
    for (let i = 0; i < 5; i++) assert.equal(counts[`part-${i}:${run?.run_id}`], 1);
  });
});
