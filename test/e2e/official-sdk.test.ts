/**
 * An app written with the official `inngest` npm SDK (v4), run as its own process with
 * INNGEST_DEV=1 and INNGEST_BASE_URL pointing at Jetstep: its step.run functions run to completion.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { freePort, spawnTs, type TsProcess } from "../support/index.ts";
import { sendEvents, type Stack, startStack, waitForApp, waitForEventRuns } from "./harness.ts";

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
});
