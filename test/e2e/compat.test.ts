/**
 * What today's official SDKs register and send, beyond the basics (issue 16): v4's invoke-only
 * functions (`triggers: []`) and cron `jitter`; v3's choice of execution version.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { jitterDelay } from "@jetstep/core";
import { Inngest, invoke, referenceFunction, staticSchema } from "inngest";
import { createDefer } from "inngest/experimental";
import { serve } from "inngest/node";
import { Jetstep, serve as serveJetstep } from "jetstep";
import { freePort, spawnTs, type TsProcess, waitFor } from "../support/index.ts";
import {
  eventRuns,
  type ServedApp,
  type Stack,
  sendEvents,
  startApp,
  startStack,
  waitForApp,
  waitForEventRuns,
} from "./harness.ts";

const JITTER_MS = 1500;

const V3_APP = fileURLToPath(new URL("../fixtures/inngest-v3-app.ts", import.meta.url));

describe("official SDK v4: invoke-only functions, cron jitter", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const ticks: { ts: number; at: number }[] = [];
  let flaky = 0;
  let scoreClient: Inngest | undefined;
  const childSessions: { via: string; sessions: unknown }[] = [];
  const seen: { requestId?: string | undefined; jobId?: string | undefined; attempt: number }[] = [];
  const deferred: { data: unknown; parents: unknown; sessions: unknown; at: number }[] = [];

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const client = new Inngest({ id: "compat", isDev: true, baseUrl: stack.url });
    const doubler = client.createFunction(
      { id: "doubler", triggers: [invoke(staticSchema<{ n: number }>())] },
      async ({ event }) => event.data.n * 2,
    );
    const caller = client.createFunction(
      { id: "caller", triggers: [{ event: "compat/call" }] },
      async ({ step }) => step.invoke("double", { function: doubler, data: { n: 21 } }),
    );
    const ticker = client.createFunction(
      { id: "ticker", triggers: [{ cron: "*/2 * * * * *", jitter: `${JITTER_MS}ms` }] },
      async ({ event, step }) => {
        await step.run("seen", () => {
          ticks.push({ ts: event.ts as number, at: Date.now() });
        });
      },
    );
    const missing = client.createFunction(
      { id: "missing", triggers: [{ event: "compat/missing" }] },
      async ({ step }) => {
        try {
          await step.invoke("nobody", { function: referenceFunction({ functionId: "nobody" }) });
          return null;
        } catch (e) {
          return { name: (e as Error).name, message: (e as Error).message };
        }
      },
    );
    const kinds = client.createFunction(
      { id: "kinds", retries: 3, triggers: [{ event: "compat/kinds" }] },
      async ({ step }) => {
        await step.run("flaky", () => {
          flaky++;
          if (flaky < 3) throw new Error(`flaky attempt ${flaky}`);
          return flaky;
        });
        await step.sleep("nap", "200ms");
        const none = await step.waitForEvent("never", { event: "compat/never", timeout: "300ms" });
        const got = await step.waitForEvent("ping", { event: "compat/ping", timeout: "30s" });
        const doubled = await step.invoke("double", { function: doubler, data: { n: 2 } });
        return { none, got: got?.data, doubled };
      },
    );
    const sessionParent = client.createFunction(
      { id: "session-parent", triggers: [{ event: "compat/session" }] },
      async ({ sessions, event, step }) => {
        await step.sendEvent("to-child", { name: "compat/session-child", data: {} });
        const invoked = await step.invoke("invoke-child", { function: sessionChild, data: {} });
        return { own: sessions ?? null, user: (event as { user?: unknown }).user ?? null, invoked };
      },
    );
    const sessionChild = client.createFunction(
      {
        id: "session-child",
        triggers: [{ event: "compat/session-child" }, invoke(staticSchema<Record<string, unknown>>())],
      },
      async ({ sessions, event }) => {
        childSessions.push({ via: event.name, sessions: sessions ?? null });
        return sessions ?? null;
      },
    );
    const scored = client.createFunction(
      { id: "scored", triggers: [{ event: "compat/scored" }] },
      async ({ step }) =>
        step.run("work", async () => {
          await client.score({ name: "inside", value: 1 });
          return "worked";
        }),
    );
    scoreClient = client;
    const ids = client.createFunction(
      { id: "ids", retries: 1, triggers: [{ event: "compat/ids" }] },
      async ({ requestId, jobId, attempt }) => {
        seen.push({ requestId, jobId, attempt });
        if (attempt === 0) throw new Error("once more");
        return "ok";
      },
    );
    const scorer = createDefer(client, { id: "scorer" }, async ({ event, parents, sessions }) => {
      deferred.push({ data: event.data, parents, sessions: sessions ?? null, at: Date.now() });
      return event.data;
    });
    const deferrer = client.createFunction(
      { id: "deferrer", triggers: [{ event: "compat/defer" }] },
      async ({ step, defer }) => {
        // Called again on every request (the handler replays from the top): sent once.
        defer("early", { function: scorer, data: { n: 1 } });
        // Aborted before it shipped: never sent.
        defer("dropped", { function: scorer, data: { n: 2 } }).abort();
        const later = defer("later-aborted", { function: scorer, data: { n: 3 } });
        await step.run("one", () => 1);
        // Shipped with the step above, aborted in this or a later request.
        later.abort();
        await step.sleep("nap", "100ms");
        defer("late", { function: scorer, data: { n: 4 } });
        await step.run("two", () => 2);
        return "parent done";
      },
    );
    app = await startApp(
      stack.url,
      "compat",
      serve({
        client,
        functions: [
          doubler,
          caller,
          ticker,
          ids,
          missing,
          kinds,
          sessionParent,
          sessionChild,
          scored,
          scorer,
          deferrer,
        ],
      }),
    );
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("registers a function without triggers and runs it when invoked", async () => {
    const fns = (await (await fetch(`${stack.url}/v1/functions`)).json()) as {
      data: { id: string; triggers: unknown[] }[];
    };
    assert.deepEqual(fns.data.find((f) => f.id === "compat-doubler")?.triggers, []);
    const [id] = await sendEvents(stack.url, { name: "compat/call", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, 42);
  });

  it("lists each step with its kind, its outcome and every errored attempt", async () => {
    const [id] = await sendEvents(stack.url, { name: "compat/kinds", data: {} });
    const started = await waitFor(async () => (await eventRuns(stack.url, id as string))?.[0], {
      timeoutMs: 20_000,
      message: "the run did not start",
    });
    // The ping is sent once the run waits for it (a wait matches events stored after it began).
    await waitFor(
      async () => {
        const r = (await (await fetch(`${stack.url}/v1/runs/${started?.run_id}`)).json()) as {
          data: { steps: { name: string; status: string }[] };
        };
        return r.data.steps.some((s) => s.name === "ping" && s.status === "waiting");
      },
      { timeoutMs: 20_000, message: "the run never waited for the ping" },
    );
    const [pingId] = await sendEvents(stack.url, { name: "compat/ping", data: { hi: 1 } });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed");
    const full = (await (await fetch(`${stack.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: {
        steps: {
          name: string;
          kind: string;
          status: string;
          outcome?: { type: string; event_id?: string | null; run_id?: string | null };
          errored_attempts: { attempt: number; error: { message: string }; next_attempt_at: string | null }[];
        }[];
      };
    };
    const by = Object.fromEntries(full.data.steps.map((s) => [s.name, s]));
    assert.deepEqual(
      full.data.steps.map((s) => [s.name, s.kind]),
      [
        ["flaky", "StepRun"],
        ["nap", "Sleep"],
        ["never", "WaitForEvent"],
        ["ping", "WaitForEvent"],
        ["double", "InvokeFunction"],
      ],
    );
    assert.deepEqual(
      by.flaky?.errored_attempts.map((a) => [a.attempt, a.error.message, a.next_attempt_at !== null]),
      [
        [0, "flaky attempt 1", true],
        [1, "flaky attempt 2", true],
      ],
    );
    assert.deepEqual(by.never?.outcome, { type: "timed_out" });
    assert.deepEqual(by.ping?.outcome, { type: "matched", event_id: pingId });
    assert.equal(by.double?.outcome?.type, "completed");
    const child = (await (await fetch(`${stack.url}/v1/runs/${by.double?.outcome?.run_id}`)).json()) as {
      data: { function_id: string; output: unknown };
    };
    assert.deepEqual([child.data.function_id, child.data.output], ["compat-doubler", 4]);
  });

  it("keeps an event's sessions and user, and passes the sessions on through sendEvent and invoke", async () => {
    const [id] = await sendEvents(stack.url, {
      name: "compat/session",
      data: {},
      user: { email: "ada@example.com" },
      meta: { sessions: { conversation: "c-1", tenant: 42 } },
    });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    const sessions = { conversation: "c-1", tenant: "42" };
    assert.deepEqual(run?.output, { own: sessions, user: { email: "ada@example.com" }, invoked: sessions });
    await waitFor(() => childSessions.length === 2, {
      timeoutMs: 20_000,
      message: "the children did not both run",
    });
    assert.deepEqual(
      childSessions.map((c) => c.sessions),
      [sessions, sessions],
      `sessions reach the child through both: ${JSON.stringify(childSessions)}`,
    );
    const stored = (await (await fetch(`${stack.url}/v1/events/${id}`)).json()) as {
      data: { meta?: unknown; user?: unknown };
    };
    assert.deepEqual(stored.data.meta, { sessions });
  });

  it("refuses more than five sessions on an event with a 400 naming the field, storing nothing", async () => {
    const six = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, `v${i}`]));
    const res = await fetch(`${stack.url}/e/any`, {
      method: "POST",
      body: JSON.stringify([
        { name: "compat/ok", data: {} },
        { name: "compat/session", meta: { sessions: six } },
      ]),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /^events\[1\]\.meta: has 6 sessions/);
  });

  it("stores run metadata: a score written inside a step (on the step) and one from outside (on the run)", async () => {
    const [id] = await sendEvents(stack.url, { name: "compat/scored", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    await scoreClient?.score({ runId: run?.run_id as string, name: "quality", value: 0.9 });
    const full = (await (await fetch(`${stack.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: {
        steps: { id: string; name: string }[];
        metadata: { run: Record<string, unknown>; steps: Record<string, Record<string, unknown>> } | null;
      };
    };
    const work = full.data.steps.find((s) => s.name === "work");
    assert.deepEqual(full.data.metadata?.run, { "inngest.score": { quality: { value: 0.9 } } });
    assert.deepEqual(full.data.metadata?.steps[work?.id as string], {
      "inngest.score": { inside: { value: 1 } },
    });
  });

  it("answers bad metadata writes with a clear 4xx and changes nothing", async () => {
    const [id] = await sendEvents(stack.url, { name: "compat/scored", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    const runId = run?.run_id as string;
    const post = (path: string, body: unknown) =>
      fetch(`${stack.url}${path}`, {
        method: "POST",
        body: typeof body === "string" ? body : JSON.stringify(body),
      });
    const update = { kind: "userland.default", op: "set", values: { a: 1 } };
    const cases: [string, unknown, number, RegExp][] = [
      [
        `/v1/runs/01NOSUCHRUN/metadata`,
        { target: { run_id: "01NOSUCHRUN" }, metadata: [update] },
        404,
        /not found/,
      ],
      [
        `/v1/runs/${runId}/metadata`,
        { target: { run_id: runId }, metadata: [{ ...update, op: "replace" }] },
        400,
        /^metadata\.0\.op: /,
      ],
      [
        `/v1/runs/${runId}/metadata`,
        { target: { run_id: "other" }, metadata: [update] },
        400,
        /^target\.run_id: /,
      ],
      [
        `/v1/runs/${runId}/metadata`,
        { target: { run_id: runId }, metadata: [] },
        400,
        /^metadata: must hold at least one/,
      ],
      [`/v1/runs/${runId}/metadata`, "{nope", 400, /JSON/i],
    ];
    for (const [path, body, status, error] of cases) {
      const res = await post(path, body);
      assert.equal(res.status, status, `${path} ${JSON.stringify(body)}`);
      assert.match(((await res.json()) as { error: string }).error, error);
    }
    const after = (await (await fetch(`${stack.url}/v1/runs/${runId}`)).json()) as {
      data: { status: string; metadata: { run: object } | null };
    };
    assert.equal(after.data.status, "Completed");
    assert.deepEqual(after.data.metadata?.run ?? {}, {}, "nothing was written on the run");
  });

  it("runs each defer() once after the parent ends, not the aborted ones, with the parent's sessions", async () => {
    const [id] = await sendEvents(stack.url, {
      name: "compat/defer",
      data: {},
      meta: { sessions: { conversation: "c-9" } },
    });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    const parent = (await (await fetch(`${stack.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: { ended_at: string; defers: { name: string; function_id: string; status: string }[] };
    };
    assert.deepEqual(
      parent.data.defers.map((d) => [d.name, d.function_id, d.status]),
      [
        ["early", "compat-scorer", "sent"],
        ["later-aborted", "compat-scorer", "aborted"],
        ["late", "compat-scorer", "sent"],
      ],
    );
    // The parent's end is recorded after its events are sent: these are all there will be.
    const sent = (await (
      await fetch(`${stack.url}/v1/events?name=inngest/deferred.schedule&include_internal=true&limit=200`)
    ).json()) as { data: { data: { n: number; _inngest: { parent_run_id: string; fn_slug: string } } }[] };
    const mine = sent.data.filter((e) => e.data._inngest.parent_run_id === run?.run_id);
    assert.deepEqual(mine.map((e) => [e.data.n, e.data._inngest.fn_slug]).sort(), [
      [1, "compat-scorer"],
      [4, "compat-scorer"],
    ]);
    await waitFor(() => deferred.length >= 2, {
      timeoutMs: 20_000,
      message: "the deferred runs did not run",
    });
    const runs = await waitFor(
      async () => {
        const list = (await (
          await fetch(`${stack.url}/v1/runs?function_id=compat-scorer&limit=10`)
        ).json()) as { data: { status: string; run_started_at: string }[] };
        return list.data.length >= 2 && list.data.every((r) => r.status === "Completed")
          ? list.data
          : undefined;
      },
      { timeoutMs: 20_000, message: "the deferred runs did not complete" },
    );
    assert.equal(runs.length, 2, JSON.stringify(runs));
    assert.deepEqual(
      deferred.map((d) => d.data).sort((a, b) => (a as { n: number }).n - (b as { n: number }).n),
      [{ n: 1 }, { n: 4 }],
      "data without _inngest",
    );
    for (const d of deferred) {
      const parents = d.parents as { fnSlug: string; runId: string }[];
      assert.deepEqual(
        parents.map((p) => [p.fnSlug, p.runId]),
        [["compat-deferrer", run?.run_id]],
      );
      assert.deepEqual(d.sessions, { conversation: "c-9" });
    }
    const ended = Date.parse(parent.data.ended_at);
    for (const r of runs)
      assert.ok(Date.parse(r.run_started_at) >= ended, "a deferred run starts after its parent ends");
  });

  it("fails an invoke of an unknown function with an Error saying it could not find it", async () => {
    const [id] = await sendEvents(stack.url, { name: "compat/missing", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed");
    const caught = run?.output as { name: string; message: string };
    assert.equal(caught.name, "Error");
    assert.match(caught.message, /could not find function "compat-nobody"/);
  });

  it("gives ctx.requestId (new on every call) and ctx.jobId (the same across attempts)", async () => {
    const [id] = await sendEvents(stack.url, { name: "compat/ids", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed");
    assert.deepEqual(
      seen.map((s) => s.attempt),
      [0, 1],
    );
    const [first, second] = seen;
    assert.ok(first?.requestId && second?.requestId && first.requestId !== second.requestId);
    assert.equal(first?.jobId, `${run?.run_id}:step`);
    assert.equal(second?.jobId, first?.jobId);
  });

  it("starts each cron run its jitter after the slot, the event keeping the slot's time", async () => {
    await waitFor(() => ticks.length >= 3, { timeoutMs: 30_000, message: "the cron did not fire 3 times" });
    for (const { ts, at } of ticks) {
      assert.equal(ts % 2000, 0, "the event carries its slot's time");
      const delay = jitterDelay("compat-ticker", ts, JITTER_MS);
      assert.ok(at - ts >= delay, `slot ${ts} ran ${at - ts} ms after it, before its jitter of ${delay} ms`);
    }
  });
});

describe("official SDK v3: the execution version it chooses", () => {
  let stack: Stack;
  let app: TsProcess;

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const port = await freePort();
    app = spawnTs(V3_APP, [], { env: { PORT: String(port), INNGEST_BASE_URL: stack.url } });
    await app.waitForLine(/listening/, 30_000);
    const res = await fetch(`http://127.0.0.1:${port}/api/inngest`, { method: "PUT" });
    assert.equal(res.status, 200, await res.text());
    await waitForApp(stack.url, "compat-v3");
  });
  after(async () => {
    await app?.kill("SIGKILL");
    await stack?.stop();
  });

  it("asks with version -1 and keeps the one the SDK answers: Promise.race resolves with the step that finished first", async () => {
    const [id] = await sendEvents(stack.url, { name: "compat/race", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    assert.equal(run?.output, "fast");
  });
});

describe("our SDK: defer()", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const deferred: { data: unknown; parents: unknown }[] = [];

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const client = new Jetstep({ id: "ours", baseUrl: stack.url });
    const later = client.createDefer({ id: "later" }, async ({ event, parents }) => {
      deferred.push({ data: event.data, parents });
      return event.data;
    });
    const parent = client.createFunction(
      { id: "parent" },
      { event: "ours/defer" },
      async ({ step, defer }) => {
        defer("early", { function: later, data: { n: 1 } });
        defer("dropped", { function: later, data: { n: 2 } }).abort();
        const shipped = defer("shipped-then-aborted", { function: later, data: { n: 3 } });
        await step.run("one", () => 1);
        shipped.abort();
        await step.sleep("nap", "100ms");
        defer("late", { function: later, data: { n: 4 } });
        return "done";
      },
    );
    app = await startApp(stack.url, "ours", serveJetstep({ client, functions: [later, parent] }));
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("sends each defer once after the run ends, none aborted, with the parent named", async () => {
    const [id] = await sendEvents(stack.url, { name: "ours/defer", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    const parent = (await (await fetch(`${stack.url}/v1/runs/${run?.run_id}`)).json()) as {
      data: { defers: { name: string; status: string }[] };
    };
    assert.deepEqual(
      parent.data.defers.map((d) => [d.name, d.status]),
      [
        ["early", "sent"],
        ["shipped-then-aborted", "aborted"],
        ["late", "sent"],
      ],
    );
    await waitFor(() => deferred.length >= 2, {
      timeoutMs: 20_000,
      message: "the deferred runs did not run",
    });
    const sent = (await (
      await fetch(`${stack.url}/v1/events?name=inngest/deferred.schedule&include_internal=true&limit=200`)
    ).json()) as { data: { data: { n: number; _inngest: { parent_run_id: string } } }[] };
    assert.deepEqual(
      sent.data
        .filter((e) => e.data._inngest.parent_run_id === run?.run_id)
        .map((e) => e.data.n)
        .sort(),
      [1, 4],
    );
    assert.deepEqual(
      deferred.map((d) => d.data).sort((a, b) => (a as { n: number }).n - (b as { n: number }).n),
      [{ n: 1 }, { n: 4 }],
    );
    for (const d of deferred) assert.deepEqual(d.parents, [{ fnSlug: "ours-parent", runId: run?.run_id }]);
  });
});
