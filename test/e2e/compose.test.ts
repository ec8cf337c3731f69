/**
 * Composition: step.invoke across two apps in two processes (result, failure, timeout, unknown
 * target) and of a function served by a NATS worker, step.sendEvent fan-out (sent once), 100
 * parallel steps, onFailure.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Jetstep, referenceFunction, serve, type WorkerHandle, worker } from "jetstep";
import { freePort, spawnTs, type TsProcess, waitFor } from "../support/index.ts";
import {
  type ServedApp,
  type Stack,
  sendEvents,
  startApp,
  startStack,
  waitForApp,
  waitForEventRuns,
  waitForEventsMatched,
} from "./harness.ts";

const TARGETS = fileURLToPath(new URL("../fixtures/invoke-targets.ts", import.meta.url));

describe("composition", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  let targets: TsProcess;
  let natsWorker: WorkerHandle;
  const counts: Record<string, number> = {};
  const bump = (k: string) => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  const failures: { message: string; runId: string }[] = [];

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const targetsPort = await freePort();
    targets = spawnTs(TARGETS, [], { env: { PORT: String(targetsPort), JETSTEP_BASE_URL: stack.url } });
    await targets.waitForLine(/listening/, 30_000);
    assert.equal((await fetch(`http://127.0.0.1:${targetsPort}/api/inngest`, { method: "PUT" })).status, 200);

    const client = new Jetstep({ id: "composer", baseUrl: stack.url });
    const caller = client.createFunction(
      { id: "caller" },
      { event: "compose/invoke" },
      async ({ event, step }) => {
        const which = event.data.which as string;
        try {
          if (which === "add")
            return await step.invoke("call-adder", {
              function: referenceFunction({ appId: "targets", functionId: "adder" }),
              data: { a: 2, b: 3 },
            });
          if (which === "refuse")
            return await step.invoke("call-refuses", {
              function: referenceFunction({ appId: "targets", functionId: "refuses" }),
            });
          if (which === "worker")
            return await step.invoke("call-worker", {
              function: referenceFunction({ appId: "nats-targets", functionId: "doubler" }),
              data: { n: 21 },
            });
          if (which === "slow")
            return await step.invoke("call-slow", {
              function: referenceFunction({ appId: "targets", functionId: "slow" }),
              timeout: "1s",
            });
          return await step.invoke("call-nobody", {
            function: referenceFunction({ appId: "targets", functionId: "nobody" }),
          });
        } catch (e) {
          return { caught: (e as Error).name, message: (e as Error).message };
        }
      },
    );
    const fanout = client.createFunction(
      { id: "fanout" },
      { event: "compose/fanout" },
      async ({ event, step }) => {
        const sent = await step.sendEvent(
          "send-children",
          [1, 2, 3].map((i) => ({ name: "compose/child", data: { parent: event.data.k, i } })),
        );
        await step.run("after-send", () => bump("after-send"));
        return sent.ids.length;
      },
    );
    const child = client.createFunction({ id: "child" }, { event: "compose/child" }, async ({ event }) => {
      bump(`child:${event.data.parent}`);
      return event.data.i;
    });
    const wide = client.createFunction({ id: "wide" }, { event: "compose/wide" }, async ({ step }) => {
      const parts = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          step.run(`part-${i}`, () => {
            bump(`wide-${i}`);
            return i;
          }),
        ),
      );
      return parts.reduce((a, b) => a + b, 0);
    });
    const doomed = client.createFunction(
      {
        id: "doomed",
        retries: 0,
        onFailure: async ({ event, step }) => {
          await step.run("record", () => {
            failures.push({
              message: (event.data.error as { message: string }).message,
              runId: event.data.run_id as string,
            });
          });
        },
      },
      { event: "compose/doomed" },
      async ({ step }) => {
        await step.run("explode", () => {
          throw new Error("kaboom");
        });
      },
    );
    app = await startApp(
      stack.url,
      "composer",
      serve({ client, functions: [caller, fanout, child, wide, doomed] }),
    );
    await waitForApp(stack.url, "targets");

    const natsClient = new Jetstep({ id: "nats-targets", baseUrl: stack.url });
    const doubler = natsClient.createFunction(
      { id: "doubler" },
      { event: "nats-targets/double" },
      async ({ event, step }) => step.run("double", () => Number(event.data.n) * 2),
    );
    natsWorker = await worker({ client: natsClient, functions: [doubler], servers: stack.nats.url });
    assert.equal((await natsWorker.registered).ok, true);
  });
  after(async () => {
    await natsWorker?.close();
    await app?.close();
    await targets?.kill("SIGKILL");
    await stack?.stop();
  });

  const invoke = async (which: string) => {
    const [id] = await sendEvents(stack.url, { name: "compose/invoke", data: { which } });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    return run;
  };

  it("invokes a function of another app in another process and returns its result", async () => {
    const run = await invoke("add");
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, 5);
  });

  it("invokes a function served by a NATS worker and returns its result", async () => {
    const run = await invoke("worker");
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, 42);
  });

  it("throws the target's failure in the caller", async () => {
    const run = await invoke("refuse");
    assert.deepEqual(run?.output, { caught: "NonRetriableError", message: "target refused" });
  });

  it("throws InngestInvokeTimeoutError when the target does not finish in time", async () => {
    const run = await invoke("slow");
    assert.equal((run?.output as { caught: string } | undefined)?.caught, "InngestInvokeTimeoutError");
  });

  it("fails the invoke with an error naming an unknown target", async () => {
    const run = await invoke("nobody");
    assert.match(
      (run?.output as { message: string } | undefined)?.message ?? "",
      /could not find function "targets-nobody": no function with this id is registered/,
    );
    assert.equal(
      (run?.output as { caught: string } | undefined)?.caught,
      "Error",
      "named as Inngest names it",
    );
  });

  it("sends events once with step.sendEvent; they trigger other functions", async () => {
    const [id] = await sendEvents(stack.url, { name: "compose/fanout", data: { k: "p1" } });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.equal(run?.output, 3);
    await waitFor(() => counts["child:p1"] === 3, { timeoutMs: 15_000, message: "children did not all run" });
    // The run has ended, so anything a replay sent is in EVENTS: once the matchers handled it all,
    // every child event is listed, and once their runs ended, every child has run.
    await waitForEventsMatched(stack.nats.url);
    const listed = (await (await fetch(`${stack.url}/v1/events?name=compose/child&limit=200`)).json()) as {
      data: { id: string; data: { parent?: string } }[];
    };
    const children = listed.data.filter((e) => e.data.parent === "p1");
    assert.equal(children.length, 3, "replays do not resend");
    for (const e of children) await waitForEventRuns(stack.url, e.id);
    assert.equal(counts["child:p1"], 3, "replays do not resend");
  });

  it("runs 100 parallel steps, each once, and resumes when all are done", async () => {
    const [id] = await sendEvents(stack.url, { name: "compose/wide", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 60_000);
    assert.equal(run?.output, 4950);
    for (let i = 0; i < 100; i++) assert.equal(counts[`wide-${i}`], 1, `part-${i}`);
  });

  it("runs onFailure after a permanent failure, with the error", async () => {
    const [id] = await sendEvents(stack.url, { name: "compose/doomed", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.equal(run?.status, "Failed");
    await waitFor(() => failures.find((f) => f.runId === run?.run_id), {
      timeoutMs: 15_000,
      message: "onFailure did not run",
    });
    assert.equal(failures.find((f) => f.runId === run?.run_id)?.message, "kaboom");
  });
});
