/**
 * The official SDK (v4) served through its express and fastify adapters, as apps coming from
 * Inngest serve it: each syncs, runs checkpointed steps once each, retries a failing step, sleeps
 * and waits for an event.
 */
import assert from "node:assert/strict";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import express from "express";
import Fastify, { type FastifyInstance } from "fastify";
import { Inngest } from "inngest";
import { serve as serveExpress } from "inngest/express";
import { serve as serveFastify } from "inngest/fastify";
import { waitFor } from "../support/index.ts";
import {
  eventRuns,
  getRun,
  type Stack,
  sendEvents,
  startStack,
  waitForApp,
  waitForEventRuns,
} from "./harness.ts";

type Adapter = "express" | "fastify";

/** The same functions for each adapter; `runs` counts each step's executions. */
function functionsFor(client: Inngest, runs: Map<string, number>) {
  const count = (name: string) => runs.set(name, (runs.get(name) ?? 0) + 1);
  const steps = client.createFunction(
    { id: "steps", retries: 2, triggers: [{ event: `${client.id}/go` }] },
    async ({ event, step }) => {
      const a = await step.run("a", () => {
        count("a");
        return (event.data.n as number) + 1;
      });
      const b = await step.run("b", () => {
        count("b");
        if ((runs.get("b") ?? 0) < 2) throw new Error("b fails once");
        return a * 10;
      });
      await step.sleep("nap", "100ms");
      const ping = await step.waitForEvent("ping", { event: `${client.id}/ping`, timeout: "30s" });
      const c = await step.run("c", () => {
        count("c");
        return b + 1;
      });
      return { a, b, c, ping: ping?.data ?? null };
    },
  );
  return [steps];
}

describe("official SDK v4 through its express and fastify adapters", () => {
  let stack: Stack;
  let httpServer: Server | undefined;
  let fastify: FastifyInstance | undefined;
  const runs: Record<Adapter, Map<string, number>> = { express: new Map(), fastify: new Map() };

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });

    const expressClient = new Inngest({ id: "adapter-express", isDev: true, baseUrl: stack.url });
    const app = express();
    app.use(express.json({ limit: "10mb" }));
    app.use(
      "/api/inngest",
      serveExpress({ client: expressClient, functions: functionsFor(expressClient, runs.express) }),
    );
    httpServer = await new Promise<Server>((resolve) => {
      const s = app.listen(0, "127.0.0.1", () => resolve(s));
    });
    const expressUrl = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}/api/inngest`;

    const fastifyClient = new Inngest({ id: "adapter-fastify", isDev: true, baseUrl: stack.url });
    fastify = Fastify();
    fastify.route({
      method: ["GET", "POST", "PUT"],
      url: "/api/inngest",
      handler: serveFastify({ client: fastifyClient, functions: functionsFor(fastifyClient, runs.fastify) }),
    });
    const fastifyAddress = await fastify.listen({ port: 0, host: "127.0.0.1" });
    const fastifyUrl = `${fastifyAddress}/api/inngest`;

    for (const url of [expressUrl, fastifyUrl]) {
      const res = await fetch(url, { method: "PUT" });
      assert.equal(res.status, 200, `sync of ${url}: ${await res.text()}`);
    }
    await waitForApp(stack.url, "adapter-express");
    await waitForApp(stack.url, "adapter-fastify");
  });
  after(async () => {
    httpServer?.close();
    await fastify?.close();
    await stack?.stop();
  });

  for (const adapter of ["express", "fastify"] as const) {
    it(`${adapter}: steps run once each, a failing step is retried, sleeps and waits resume`, async () => {
      const appId = `adapter-${adapter}`;
      const [id] = await sendEvents(stack.url, { name: `${appId}/go`, data: { n: 1 } });
      const runId = await waitFor(async () => (await eventRuns(stack.url, id as string))?.[0]?.run_id, {
        timeoutMs: 20_000,
        message: "the run did not start",
      });
      await waitFor(
        async () =>
          (await getRun(stack.url, runId))?.steps.some((s) => s.name === "ping" && s.status === "waiting"),
        { timeoutMs: 20_000, message: "the run never waited for the ping" },
      );
      await sendEvents(stack.url, { name: `${appId}/ping`, data: { pong: adapter } });
      const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
      assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
      assert.deepEqual(run?.output, { a: 2, b: 20, c: 21, ping: { pong: adapter } });
      assert.deepEqual(
        run?.steps.map((s) => [s.name, s.status]),
        [
          ["a", "completed"],
          ["b", "completed"],
          ["nap", "completed"],
          ["ping", "completed"],
          ["c", "completed"],
        ],
      );
      assert.deepEqual(Object.fromEntries(runs[adapter]), { a: 1, b: 2, c: 1 });
    });
  }
});
