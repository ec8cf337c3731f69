/**
 * An app written with the official `inngest` npm SDK (v4), run as its own process with
 * INNGEST_DEV=1 and INNGEST_BASE_URL pointing at Jetstep: its step.run functions run to completion.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { freePort, spawnTs, type TsProcess } from "../support/index.ts";
import {
  type Stack,
  sendEvents,
  startStack,
  waitForApp,
  waitForEventRuns,
  waitForEventsMatched,
} from "./harness.ts";

const APP = fileURLToPath(new URL("../fixtures/inngest-app.ts", import.meta.url));

describe("official inngest SDK app on Jetstep", () => {
  let stack: Stack;
  let app: TsProcess;
  const countsFile = join(mkdtempSync(join(tmpdir(), "jetstep-official-")), "counts.json");
  const counts = () => JSON.parse(readFileSync(countsFile, "utf8")) as Record<string, number>;

  before(async () => {
    const appPort = await freePort();
    stack = await startStack({ appUrls: [`http://127.0.0.1:${appPort}/api/inngest`] });
    app = spawnTs(APP, [], {
      env: { PORT: String(appPort), INNGEST_DEV: "1", INNGEST_BASE_URL: stack.url, COUNTS_FILE: countsFile },
    });
    await app.waitForLine(/listening/, 30_000);
    await waitForApp(stack.url, "official-app");
  });
  after(async () => {
    await app?.kill("SIGKILL");
    await stack?.stop();
  });

  it("runs a 3-step function to completion, each step once", async () => {
    const [id] = await sendEvents(stack.url, { name: "official/go", data: { n: 1 } });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    assert.deepEqual(run?.output, { a: 2, b: 4, c: "4!" });
    assert.deepEqual(
      run?.steps.map((s) => [s.name, s.status, s.attempts]),
      [
        ["a", "completed", 1],
        ["b", "completed", 1],
        ["c", "completed", 1],
      ],
    );
    assert.deepEqual([counts().a, counts().b, counts().c], [1, 1, 1]);
  });

  it("retries a throwing step and keeps earlier steps memoized", async () => {
    const [id] = await sendEvents(stack.url, { name: "official/flaky", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    assert.equal(run?.output, "recovered");
    assert.equal(run?.steps.find((s) => s.name === "flaky")?.attempts, 3);
    assert.equal(counts().flaky, 3);
    assert.equal(counts()["flaky-ok"], 1);
  });

  it("fails at once on NonRetriableError", async () => {
    const [id] = await sendEvents(stack.url, { name: "official/doomed", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.equal(run?.status, "Failed");
    assert.equal(run?.error?.name, "NonRetriableError");
    assert.equal(run?.error?.message, "never works");
    assert.equal(counts().doomed, 1);
  });

  it("fails after the configured retries, recording the last error", async () => {
    const [id] = await sendEvents(stack.url, { name: "official/exhausted", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string);
    assert.equal(run?.status, "Failed");
    assert.equal(run?.error?.message, "attempt 3 failed");
    const step = run?.steps.find((s) => s.name === "always-throws");
    assert.equal(step?.status, "failed");
    assert.equal(step?.attempts, 3);
    assert.equal(counts().exhausted, 3);
  });

  it("fans one event out to every triggered function, honouring trigger expressions", async () => {
    const [id] = await sendEvents(stack.url, { name: "official/fanout", data: { k: "x" } });
    const runs = await waitForEventRuns(stack.url, id as string, 2);
    assert.deepEqual(runs.map((r) => r.output).sort(), ["a:x", "b:x"]);
    const [skip] = await sendEvents(stack.url, { name: "official/fanout", data: { k: "skip-b" } });
    const only = await waitForEventRuns(stack.url, skip as string, 1);
    assert.equal(only[0]?.function_id, "official-app-fan-a");
  });

  it("starts nothing for a repeated event id", async () => {
    const before = { a: counts()["fan-a"] ?? 0, b: counts()["fan-b"] ?? 0 };
    const event = { id: "dedupe-me-1", name: "official/fanout", data: { k: "d" } };
    const [id] = await sendEvents(stack.url, event);
    assert.equal(id, "dedupe-me-1");
    const first = await waitForEventRuns(stack.url, id, 2);
    await sendEvents(stack.url, event);
    await sendEvents(stack.url, [event, event]);
    // The duplicate is dropped at append. Had it been stored, the matchers would have indexed the
    // runs it started (other ids) before acking it: wait until they handled all EVENTS holds.
    await waitForEventsMatched(stack.nats.url);
    const again = await waitForEventRuns(stack.url, id, 2);
    assert.deepEqual(again.map((r) => r.run_id).sort(), first.map((r) => r.run_id).sort());
    assert.equal(counts()["fan-a"], before.a + 1);
    assert.equal(counts()["fan-b"], before.b + 1);
  });

  it("runs step.invoke of another function", async () => {
    const [id] = await sendEvents(stack.url, { name: "official/invoke", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run));
    assert.deepEqual(run?.output, { invoked: { a: 11, b: 22, c: "22!" } });
  });
});
