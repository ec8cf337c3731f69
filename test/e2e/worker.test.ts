/**
 * NATS workers end to end: two worker processes of one app share 200 runs; one is SIGKILLed while
 * it holds steps in flight, and its steps are retried on the other once its heartbeats stop. Plus:
 * a failing step on a worker is retried, registration over NATS is validated like the HTTP route
 * (and needs the signing key when one is set), and a run of an app nobody serves fails clearly.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startRuntime } from "@jetstep/cli";
import { Subjects } from "@jetstep/core";
import { connectNats, type Nats } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { headers } from "@nats-io/transport-node";
import { Jetstep, worker } from "jetstep";
import {
  type NatsServerHandle,
  spawnTs,
  startNatsServer,
  type TsProcess,
  waitFor,
} from "../support/index.ts";
import { type ApiRun, eventRuns, type Stack, sendEvents, startStack, waitForEventRuns } from "./harness.ts";

const APP = fileURLToPath(new URL("../fixtures/worker-app.ts", import.meta.url));
const RUNS = 200;

/** A registration body as the SDK sends it, for app `appId` with one function on `event`. */
const registration = (appId: string, event: string, extra: Record<string, unknown> = {}) => ({
  url: `nats://${appId}`,
  deployType: "ping",
  framework: "nats",
  appName: appId,
  sdk: "js:test",
  v: "0.1",
  functions: [
    {
      id: `${appId}-f`,
      name: "f",
      triggers: [{ event }],
      steps: {
        step: {
          id: "step",
          name: "step",
          runtime: { type: "nats", url: `nats://${appId}?fnId=${appId}-f&stepId=step` },
          retries: { attempts: 0 },
        },
      },
      ...extra,
    },
  ],
});

async function register(nats: Nats, body: unknown, authorization?: string): Promise<Record<string, unknown>> {
  const h = headers();
  if (authorization) h.set("authorization", authorization);
  const reply = await nats.nc.request(Subjects.workerRegister, JSON.stringify(body), {
    timeout: 5_000,
    headers: h,
  });
  return reply.json<Record<string, unknown>>();
}

describe("NATS workers", () => {
  let stack: Stack;
  let client: Nats;
  const workers: TsProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "jetstep-workers-"));
  const execLog = join(dir, "exec.log");
  const holdFile = join(dir, "hold");

  before(async () => {
    stack = await startStack({ retryIntervalMs: 100 });
    client = await connectNats({ servers: stack.nats.url });
  });
  after(async () => {
    for (const w of workers) await w.kill("SIGKILL");
    await client?.close();
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const spawnWorker = async (name: string) => {
    const proc = spawnTs(APP, [], {
      env: {
        NATS_URL: stack.nats.url,
        JETSTEP_BASE_URL: stack.url,
        WORKER_NAME: name,
        EXEC_LOG: execLog,
        HOLD_FILE: holdFile,
        HEARTBEAT_MS: "500",
      },
    });
    workers.push(proc);
    await proc.waitForLine(/ready: \{"ok":true/, 30_000);
    return proc;
  };
  const execLines = () =>
    readFileSync(execLog, "utf8")
      .trim()
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        const [worker, runId, step, phase] = l.split(" ");
        return { worker, runId, step, phase };
      });

  it("two workers share 200 runs; a SIGKILLed worker's steps are retried on the other", async () => {
    writeFileSync(holdFile, "");
    writeFileSync(execLog, "");
    const a = await spawnWorker("a");
    await spawnWorker("b");
    const ids = await sendEvents(
      stack.url,
      Array.from({ length: RUNS }, (_, i) => ({ name: "worker/go", data: { i } })),
    );
    // Both workers hold "hold" steps in flight (HOLD_FILE blocks them); kill one of them now.
    await waitFor(
      () => {
        const holding = new Set(
          execLines()
            .filter((l) => l.step === "hold" && l.phase === "start")
            .map((l) => l.worker),
        );
        return holding.has("a") && holding.has("b");
      },
      { timeoutMs: 30_000, message: "the two workers never both held steps" },
    );
    await a.kill("SIGKILL");
    const lost = new Set(
      execLines()
        .filter((l) => l.worker === "a" && l.step === "hold" && l.phase === "start")
        .map((l) => l.runId),
    );
    rmSync(holdFile);

    const done = new Map<string, ApiRun>();
    await waitFor(
      async () => {
        const pending = ids.filter((id) => !done.has(id));
        await Promise.all(
          pending.map(async (id) => {
            const [run] = (await eventRuns(stack.url, id)) ?? [];
            if (run && run.status !== "Running") done.set(id, run);
          }),
        );
        return done.size === ids.length;
      },
      { timeoutMs: 90_000, intervalMs: 250, message: "not every run ended" },
    );

    for (const [i, id] of ids.entries()) {
      const run = done.get(id) as ApiRun;
      assert.equal(run.status, "Completed", `run ${run.run_id}: ${JSON.stringify(run.error)}`);
      assert.equal(run.output, i + 4);
      assert.deepEqual(
        run.steps.map((s) => [s.name, s.status, s.output]),
        [
          ["one", "completed", i],
          ["two", "completed", i + 1],
          ["hold", "completed", i + 2],
          ["four", "completed", i + 3],
          ["five", "completed", i + 4],
        ],
      );
      if (lost.has(run.run_id)) {
        const hold = run.steps.find((s) => s.name === "hold");
        assert.ok((hold?.attempts ?? 0) >= 2, `hold of ${run.run_id} was retried after worker a died`);
      }
    }
    const lines = execLines();
    assert.ok(lost.size > 0, "worker a was killed with steps in flight");
    for (const runId of lost)
      assert.ok(
        lines.some((l) => l.worker === "b" && l.runId === runId && l.step === "hold" && l.phase === "end"),
        `worker b finished the hold step worker a left (${runId})`,
      );
    const byWorker = (w: string) => lines.filter((l) => l.worker === w && l.phase === "end").length;
    assert.ok(
      byWorker("a") > 0 && byWorker("b") > 0,
      `both did work: a ${byWorker("a")}, b ${byWorker("b")}`,
    );
  });

  it("retries a failing step on a worker", async () => {
    const [id] = await sendEvents(stack.url, { name: "worker/flaky", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 30_000);
    assert.equal(run?.status, "Completed");
    assert.equal(run?.output, "steady on attempt 1");
    assert.equal(run?.steps[0]?.attempts, 2);
  });

  it("answers an invalid registration over NATS with an error naming the field", async () => {
    const badExpression = registration("bad", "bad/go");
    (badExpression.functions[0] as { triggers: unknown }).triggers = [
      { event: "bad/go", expression: "event.data.((" },
    ];
    const reply = await register(client, badExpression);
    assert.equal(reply.status, 400);
    assert.match(String(reply.error), /^functions\.0\.triggers\.0\.expression: /);
    const noUrl = await register(client, { ...registration("bad", "bad/go"), url: undefined });
    assert.equal(noUrl.status, 400);
    assert.match(String(noUrl.error), /^url: /);
    const notJson = await client.nc.request(Subjects.workerRegister, "{", { timeout: 5_000 });
    assert.match(String(notJson.json<{ error: string }>().error), /invalid JSON/);
  });

  it("sends step.sendEvent events over NATS: a worker needs no HTTP route to the gateway", async () => {
    // The gateway URL is unreachable: sending over HTTP would fail the step.
    const app = new Jetstep({ id: "announcer", baseUrl: "http://127.0.0.1:9" });
    const announce = app.createFunction({ id: "announce" }, { event: "worker/announce" }, async ({ step }) =>
      step.sendEvent("tell", { name: "worker/announced", data: { x: 7 } }),
    );
    const listen = app.createFunction(
      { id: "listen" },
      { event: "worker/announced" },
      async ({ event }) => Number(event.data.x) * 6,
    );
    const w = await worker({ client: app, functions: [announce, listen], servers: stack.nats.url });
    try {
      assert.equal((await w.registered).ok, true);
      const [id] = await sendEvents(stack.url, { name: "worker/announce", data: {} });
      const [run] = await waitForEventRuns(stack.url, id as string, 1, 30_000);
      assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
      const sentId = (run?.output as { ids: string[] } | undefined)?.ids[0] as string;
      const [listened] = await waitForEventRuns(stack.url, sentId, 1, 30_000);
      assert.equal(listened?.output, 42);
    } finally {
      await w.close();
    }
  });

  it("a worker at maxInFlight turns calls down; they wait for it without using attempts", async () => {
    const app = new Jetstep({ id: "capped", baseUrl: stack.url });
    let running = 0;
    let most = 0;
    const slow = app.createFunction(
      { id: "slow", retries: 0 },
      { event: "worker/slow" },
      async ({ event, step }) =>
        step.run("work", async () => {
          running++;
          most = Math.max(most, running);
          // Work in the step, so calls overlap and the cap is measured: not a wait.
          await new Promise((r) => setTimeout(r, 50));
          running--;
          return Number(event.data.i) * 2;
        }),
    );
    const w = await worker({ client: app, functions: [slow], servers: stack.nats.url, maxInFlight: 2 });
    try {
      assert.equal((await w.registered).ok, true);
      const ids = await sendEvents(
        stack.url,
        Array.from({ length: 20 }, (_, i) => ({ name: "worker/slow", data: { i } })),
      );
      const runs = await Promise.all(ids.map((id) => waitForEventRuns(stack.url, id, 1, 60_000)));
      for (const [i, [run]] of runs.entries()) {
        // retries: 0, so a busy answer counted as an attempt would have failed the run.
        assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
        assert.equal(run?.output, i * 2);
      }
      assert.ok(most <= 2, `at most maxInFlight steps ran at once (saw ${most})`);
    } finally {
      await w.close();
    }
  });

  it("fails a run of an app no worker serves, saying so", async () => {
    assert.deepEqual(await register(client, registration("ghost", "ghost/go")), {
      ok: true,
      modified: true,
      status: 200,
    });
    const [id] = await sendEvents(stack.url, { name: "ghost/go", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 30_000);
    assert.equal(run?.status, "Failed");
    assert.match(
      run?.error?.message ?? "",
      /no worker is serving app "ghost" \(nothing subscribed to jetstep\.call\.ghost\)/,
    );
  });
});

describe("registration over NATS with a signing key", () => {
  let nats: NatsServerHandle;
  let client: Nats;
  let stop: () => Promise<void>;
  const key = "signkey-prod-0123456789abcdef0123456789abcdef";

  before(async () => {
    nats = await startNatsServer();
    const runtime = await startRuntime({
      natsUrl: nats.url,
      host: "127.0.0.1",
      port: 0,
      appUrls: [],
      syncIntervalMs: 60_000,
      services: ["gateway"],
      signingKey: key,
      eventKeys: ["k"],
      log: silentLogger(),
    });
    stop = () => runtime.stop();
    client = await connectNats({ servers: nats.url });
  });
  after(async () => {
    await client?.close();
    await stop?.();
    await nats?.stop();
  });

  it("requires the hashed signing key, as the HTTP route does", async () => {
    const body = registration("signed", "signed/go");
    const missing = await register(client, body);
    assert.equal(missing.status, 401);
    assert.match(String(missing.error), /signing key/);
    // docs/PROTOCOL.md, "Signatures": signkey-<env>-<hex(sha256(hexDecode(rest)))>
    const hashed = `signkey-prod-${createHash("sha256")
      .update(Buffer.from(key.slice(13), "hex"))
      .digest("hex")}`;
    const wrong = await register(client, body, `Bearer ${key}`);
    assert.equal(wrong.status, 401);
    const ok = await register(client, body, `Bearer ${hashed}`);
    assert.equal(ok.ok, true);
  });
});
