/**
 * The dev UI in real headless Chromium (Debian's, driven by playwright-core): send an event from
 * the UI, watch its run appear live, open the run's timeline, cancel a sleeping run, rerun from a
 * step, list refused NATS publishes on the Dead letters page. Screenshots of each page go to
 * test-results/screenshots/ (gitignored) for review.
 */
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Subjects } from "@jetstep/core";
import { connectNats } from "@jetstep/jetstream";
import { Inngest } from "inngest";
import { createDefer } from "inngest/experimental";
import { serve as serveOfficial } from "inngest/node";
import { Jetstep, serve } from "jetstep";
import { type Browser, chromium, type Page } from "playwright-core";
import { freePort, waitFor } from "../support/index.ts";
import {
  apiFetch,
  type ServedApp,
  type Stack,
  sendEvents,
  startApp,
  startStack,
  waitForApp,
  waitForEventRuns,
} from "./harness.ts";

const SHOTS = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url));
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The runs an event started, with their phase (null until it is known). */
async function eventRunsOf(url: string, eventId: string) {
  const r = (await (await apiFetch(`${url}/v1/events/${eventId}/runs`)).json().catch(() => null)) as {
    data?: { run_id: string; status: string; phase: string }[];
  } | null;
  return r?.data ?? null;
}

/** Debian's Chromium with a 1280×800 page; JavaScript errors on the page are collected. */
async function openBrowser(pageErrors: string[]): Promise<{ browser: Browser; page: Page }> {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  return { browser, page };
}

describe("dev UI in Chromium", () => {
  let stack: Stack;
  const apps: ServedApp[] = [];
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    stack = await startStack();
    const client = new Jetstep({ id: "ui-app", baseUrl: stack.url });
    const greet = client.createFunction({ id: "greet" }, { event: "ui/greet" }, async ({ event, step }) => {
      const name = await step.run("lookup", () => String(event.data.name ?? "world"));
      const text = await step.run("compose", () => `hello ${name}`);
      return step.run("deliver", () => ({ delivered: text }));
    });
    const napper = client.createFunction({ id: "napper" }, { event: "ui/nap" }, async ({ step }) => {
      await step.run("before", () => 1);
      await step.sleep("nap", "60s");
    });
    const brittle = client.createFunction(
      { id: "brittle", retries: 0 },
      { event: "ui/brittle" },
      async ({ step }) =>
        step.run("break", () => {
          throw new Error("always breaks");
        }),
    );
    apps.push(await startApp(stack.url, "ui-app", serve({ client, functions: [greet, napper, brittle] })));
    // An app on the official SDK whose run defers two runs and aborts one of them.
    const official = new Inngest({ id: "ui-official", isDev: true, baseUrl: stack.url });
    const later = createDefer(official, { id: "later" }, async ({ event }) => event.data);
    const deferring = official.createFunction(
      { id: "deferring", triggers: [{ event: "ui/defer" }] },
      async ({ step, defer }) => {
        defer("kept", { function: later, data: { n: 1 } });
        const dropped = defer("dropped", { function: later, data: { n: 2 } });
        await step.run("work", () => 1);
        dropped.abort();
        return "done";
      },
    );
    apps.push(
      await startApp(
        stack.url,
        "ui-official",
        serveOfficial({ client: official, functions: [later, deferring] }),
      ),
    );
    ({ browser, page } = await openBrowser(pageErrors));
  });
  after(async () => {
    await browser?.close();
    for (const app of apps) await app.close();
    await stack?.stop();
  });

  it("sends an event from the UI and shows its run appear live, then its timeline", async () => {
    await page.goto(`${stack.url}/#/runs`);
    await page.getByTestId("nav-runs").waitFor();
    await shot("runs-empty");
    await page.getByTestId("send-event-button").click();
    await page.getByTestId("send-event-json").fill("{ not json");
    await page.getByTestId("send-event-submit").click();
    await page.getByTestId("json-error").waitFor();
    await page
      .getByTestId("send-event-json")
      .fill(JSON.stringify({ name: "ui/greet", data: { name: "Ada" } }));
    await page.getByTestId("send-event-submit").click();
    // No navigation or reload: the run appears through the live stream.
    const row = page.getByTestId("run-row").first();
    await row.waitFor({ timeout: 15_000 });
    // "Live" is said once, in the top bar; one page of runs has no "Load more".
    assert.equal(await page.locator("#app").getByText("Live", { exact: true }).count(), 0);
    assert.equal(await page.locator("#runs-more").isVisible(), false);
    await shot("runs-live");
    await row.click();
    await page.getByTestId("run-status").waitFor();
    await waitFor(
      async () => ((await page.getByTestId("run-status").textContent()) ?? "").includes("Completed"),
      {
        timeoutMs: 15_000,
        message: "the run detail never showed Completed",
      },
    );
    await waitFor(async () => (await page.getByTestId("timeline-step").count()) === 3, { timeoutMs: 10_000 });
    const names = await page
      .getByTestId("timeline-step")
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-step-name")));
    assert.deepEqual(names, ["lookup", "compose", "deliver"]);
    assert.deepEqual(await page.getByTestId("step-kind").allTextContents(), [
      "step.run",
      "step.run",
      "step.run",
    ]);
    assert.match((await page.getByTestId("run-trace-id").textContent()) ?? "", /[0-9a-f]{32}/);
    // The Trace tab: the run span, then one span per step attempt, from the run's log.
    await page.getByTestId("trace-tab").click();
    await page.getByTestId("trace-tree").waitFor({ timeout: 10_000 });
    assert.deepEqual(
      await page.getByTestId("trace-span").evaluateAll((els) => els.map((e) => e.getAttribute("data-kind"))),
      ["run", "step", "step", "step"],
    );
    await shot("run-trace");
    await page.locator('[data-tab="steps"]').click();
    // An ended run: one status badge (not "Completed completed"), no Cancel button, and its start
    // as a date and time before the relative one.
    assert.equal(await page.getByTestId("run-phase").count(), 0);
    assert.equal(await page.getByTestId("cancel-run").isVisible(), false);
    assert.match(
      (await page.getByTestId("run-started").textContent()) ?? "",
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} · /,
    );
    await shot("run-detail");
  });

  it("lists a run's deferred runs with their status", async () => {
    const [id] = await sendEvents(stack.url, { name: "ui/defer", data: {} });
    const [run] = await waitForEventRuns(stack.url, id as string, 1, 20_000);
    assert.equal(run?.status, "Completed", JSON.stringify(run?.error));
    await page.goto(`${stack.url}/#/runs/${encodeURIComponent(run?.run_id as string)}`);
    const rows = page.getByTestId("run-defers").locator("tbody tr");
    await waitFor(async () => (await rows.count()) === 2, { timeoutMs: 10_000, message: "no defers shown" });
    const cells = await rows.evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll("td")].slice(0, 3).map((td) => td.textContent?.trim())),
    );
    assert.deepEqual(cells, [
      ["kept", "ui-official-later", "sent"],
      ["dropped", "ui-official-later", "aborted"],
    ]);
    await shot("run-defers");
  });

  it("cancels a sleeping run from its page", async () => {
    const [id] = await sendEvents(stack.url, { name: "ui/nap", data: {} });
    const run = await waitFor(
      async () => {
        const r = (await (await fetch(`${stack.url}/v1/events/${id}/runs`)).json().catch(() => null)) as {
          data?: { run_id: string; phase: string }[];
        } | null;
        return r?.data?.[0]?.phase === "sleeping" ? r.data[0] : null;
      },
      { timeoutMs: 15_000 },
    );
    await page.goto(`${stack.url}/#/runs/${run.run_id}`);
    await page
      .locator('[data-testid="timeline-step"][data-step-name="nap"] [data-testid="step-kind"]')
      .waitFor();
    assert.equal(
      await page
        .locator('[data-testid="timeline-step"][data-step-name="nap"] [data-testid="step-kind"]')
        .textContent(),
      "sleep",
    );
    page.once("dialog", (d) => void d.accept());
    await page.getByTestId("cancel-run").click();
    await waitFor(
      async () => ((await page.getByTestId("run-status").textContent()) ?? "").includes("Cancelled"),
      {
        timeoutMs: 15_000,
        message: "the run never showed Cancelled",
      },
    );
    const cancelled = (await (await fetch(`${stack.url}/v1/runs/${run.run_id}`)).json()) as {
      data: { cancel_reason?: string };
    };
    assert.equal(cancelled.data.cancel_reason, "cancelled from the UI");
    // The sleep it was cancelled in never finished: shown so, its bar ending with the run's, and
    // the timeline's scale is the run's duration (not still growing).
    const nap = page.locator('[data-testid="timeline-step"][data-step-name="nap"]');
    await waitFor(async () => (await nap.getAttribute("data-status")) === "unfinished", {
      timeoutMs: 10_000,
      message: "the open sleep of the cancelled run is not shown unfinished",
    });
    assert.doesNotMatch((await nap.textContent()) ?? "", /in progress|Sleeping until/);
    assert.equal(
      await page.locator(".tl-scale span").last().textContent(),
      await page.getByTestId("run-duration").textContent(),
    );
    assert.equal(await page.getByTestId("cancel-run").isVisible(), false);
    await shot("run-cancelled");
    // Its trace: the run cancelled, the sleep cut off with it.
    await page.getByTestId("trace-tab").click();
    await page.getByTestId("trace-tree").waitFor({ timeout: 10_000 });
    assert.deepEqual(
      await page
        .getByTestId("trace-span")
        .evaluateAll((els) =>
          els.map((e) => `${e.getAttribute("data-kind")} ${e.getAttribute("data-status")}`),
        ),
      ["run cancelled", "step ok", "sleep cancelled"],
    );
  });

  it("reruns from a step with an edited output", async () => {
    const [id] = await sendEvents(stack.url, { name: "ui/greet", data: { name: "Grace" } });
    const [orig] = await waitForEventRuns(stack.url, id as string);
    await page.goto(`${stack.url}/#/runs/${orig?.run_id}`);
    await page.getByTestId("rerun-from-step-select").waitFor();
    await page.getByTestId("rerun-from-step-select").selectOption({ label: "compose" });
    await page.getByTestId("rerun-from-step-output").fill('"hi there"');
    await page.getByTestId("rerun-from-step-submit").click();
    await waitFor(async () => !page.url().includes(orig?.run_id as string), {
      timeoutMs: 10_000,
      message: "did not open the new run",
    });
    await waitFor(
      async () => ((await page.getByTestId("run-status").textContent()) ?? "").includes("Completed"),
      {
        timeoutMs: 15_000,
      },
    );
    const newId = decodeURIComponent(page.url().split("/").pop() as string);
    const rerun = (await (await fetch(`${stack.url}/v1/runs/${newId}`)).json()) as {
      data: { output: unknown };
    };
    assert.deepEqual(rerun.data.output, { delivered: "hi there" });
    // "Rerun of" both ways: the rerun names its original, the original lists its rerun.
    assert.equal(await page.getByTestId("run-rerun-of").locator("a").textContent(), orig?.run_id);
    await shot("run-rerun-from-step");
    await page.getByTestId("run-rerun-of").locator("a").click();
    await page.getByTestId("run-reruns").waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId("run-reruns").locator("a").textContent(), newId);
  });

  it("adds an app URL from the Apps page and shows its sync error", async () => {
    await page.goto(`${stack.url}/#/apps`);
    await page.getByTestId("add-app-url").fill("http://127.0.0.1:9/api/inngest");
    await page.getByTestId("add-app-submit").click();
    await page
      .locator(
        '[data-testid="app-row"][data-url="http://127.0.0.1:9/api/inngest"] [data-testid="sync-error"]',
      )
      .waitFor({ timeout: 15_000 });
    const error = await page
      .locator(
        '[data-testid="app-row"][data-url="http://127.0.0.1:9/api/inngest"] [data-testid="sync-error"]',
      )
      .textContent();
    assert.match(error ?? "", /ECONNREFUSED|could not reach/);
    // The error is read whole at 1280 px: it wraps in its cell, the table does not overflow.
    const overflow = await page
      .locator(".table-wrap")
      .first()
      .evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(overflow <= 1, `the apps table overflows by ${overflow} px`);
    await page.locator('[data-testid="app-row"][data-app-id="ui-app"] [data-testid="resync-app"]').click();
    await shot("apps");
  });

  it("lists refused NATS publishes on the Dead letters page, payloads escaped, filtered by source", async () => {
    // Plain publishes (no reply subject) that ingestion refuses are dead-lettered as source `ingest`.
    const notJson = '{"name": "ui/broken", "note": "<img src=x onerror=alert(1)>"';
    const noName = { data: { missing: "name", html: "<b>not bold</b>" } };
    const nats = await connectNats({ servers: stack.nats.url });
    try {
      nats.nc.publish(Subjects.ingest, notJson);
      nats.nc.publish(Subjects.ingest, JSON.stringify(noName));
      await nats.nc.flush();
    } finally {
      await nats.close();
    }
    await waitFor(
      async () => {
        const r = (await (await fetch(`${stack.url}/v1/dead-letters?source=ingest`)).json()) as {
          data: unknown[];
        };
        return r.data.length === 2;
      },
      { timeoutMs: 10_000, message: "the two refused publishes were never dead-lettered" },
    );

    await page.goto(`${stack.url}/#/runs`);
    await page.getByTestId("nav-dead-letters").click();
    const rows = page.getByTestId("dead-letter-row");
    await rows.first().waitFor({ timeout: 10_000 });
    assert.match(page.url(), /#\/dead-letters$/);
    assert.equal(await page.getByTestId("nav-dead-letters").getAttribute("aria-current"), "page");
    assert.equal(await rows.count(), 2);
    assert.equal(await page.getByTestId("dead-letters-empty").isVisible(), false);
    assert.equal(
      await page.getByTestId("dead-letters-more").isVisible(),
      false,
      "no next page, no Load more",
    );

    // Not JSON: the reason and source are shown, the payload is collapsed and then shown raw, as text.
    const rawRow = rows.filter({ hasText: "invalid JSON" });
    assert.equal(await rawRow.getByTestId("dead-letter-source").textContent(), "ingest");
    assert.match((await rawRow.getByTestId("dead-letter-reason").textContent()) ?? "", /^invalid JSON: /);
    assert.equal(await rawRow.getByTestId("dead-letter-subject").textContent(), Subjects.ingest);
    assert.equal(await rawRow.getByTestId("dead-letter-status").textContent(), "400");
    const rawPayload = page.locator(
      `#dead-letter-${await rawRow.getAttribute("data-letter-id")} [data-testid="dead-letter-payload"]`,
    );
    assert.equal(await rawPayload.isVisible(), false);
    await rawRow.getByTestId("dead-letter-toggle").click();
    await rawPayload.waitFor();
    assert.equal(await rawPayload.textContent(), notJson);
    assert.equal(await rawRow.getByTestId("dead-letter-toggle").getAttribute("aria-expanded"), "true");

    // JSON: expanding by clicking the row shows it pretty-printed.
    const jsonRow = rows.filter({ hasText: "event.name:" });
    assert.equal(await jsonRow.getByTestId("dead-letter-source").textContent(), "ingest");
    const jsonPayload = page.locator(
      `#dead-letter-${await jsonRow.getAttribute("data-letter-id")} [data-testid="dead-letter-payload"]`,
    );
    await jsonRow.getByTestId("dead-letter-reason").click();
    await jsonPayload.waitFor();
    assert.equal(await jsonPayload.textContent(), JSON.stringify(noName, null, 2));
    assert.equal(await page.locator("#app img, #app b").count(), 0, "payloads are text, never markup");
    await shot("dead-letters-expanded");

    // The source filter: nothing from the matcher, the empty state explains; back to ingest.
    await page.getByTestId("dead-letters-source-filter").selectOption("matcher");
    await page.getByTestId("dead-letters-empty").waitFor({ timeout: 10_000 });
    assert.equal(await rows.count(), 0);
    assert.match(
      (await page.getByTestId("dead-letters-empty").textContent()) ?? "",
      /No dead letters from matcher\..*could not process/s,
    );
    await shot("dead-letters-empty");
    await page.getByTestId("dead-letters-source-filter").selectOption("ingest");
    await waitFor(async () => (await rows.count()) === 2, {
      timeoutMs: 10_000,
      message: "filtering by ingest did not bring the letters back",
    });
    assert.equal(await page.getByTestId("dead-letters-empty").isVisible(), false);
    await page.getByTestId("dead-letters-source-filter").selectOption("");
  });

  it("draws a function's activity over time, with a range picker, also at 390 px wide", async () => {
    // The first test's run of greet completed; executors append what they counted every 10 s.
    await waitFor(
      async () => {
        const res = await apiFetch(`${stack.url}/v1/functions/ui-app-greet/activity`);
        assert.equal(res.status, 200, await res.clone().text());
        const body = (await res.json()) as { data: { points: { completed: number }[] } };
        return body.data.points.some((p) => p.completed > 0);
      },
      { timeoutMs: 30_000, message: "greet's completed run never showed in its activity" },
    );
    await page.goto(`${stack.url}/#/functions`);
    await page.locator('[data-function-id="ui-app-greet"] [data-testid=function-link]').click();
    await page.getByTestId("chart-runs").waitFor({ timeout: 10_000 });
    assert.match(page.url(), /#\/functions\/ui-app-greet$/);
    assert.ok(Number(await page.getByTestId("stat-completed").textContent()) >= 1);
    assert.ok((await page.locator('[data-testid=chart-runs] rect[data-series="completed"]').count()) >= 1);
    for (const chart of ["runs", "failure-rate", "duration", "backlog"])
      assert.equal(await page.getByTestId(`chart-${chart}`).locator("svg").count(), 1, chart);
    // A p50 dot per minute in which greet's runs ended: one, or more when they ended on both sides
    // of a minute's turn (as the API says for the page's range, 1h by default).
    const activity = (await (await apiFetch(`${stack.url}/v1/functions/ui-app-greet/activity`)).json()) as {
      data: { points: { p50_ms: number | null }[] };
    };
    const ended = activity.data.points.filter((p) => p.p50_ms !== null).length;
    assert.ok(ended >= 1, JSON.stringify(activity.data.points));
    assert.equal(
      await page.getByTestId("chart-duration").locator('circle[data-series="p50_ms"]').count(),
      ended,
    );
    assert.equal(
      (await page.getByTestId("chart-runs").locator("figcaption").textContent())?.trim(),
      "Runs per minute",
    );
    await shot("function-1h");

    await page.locator("button[data-range='24h']").click();
    await page.locator("#fn-charts[data-range='24h']").waitFor({ timeout: 10_000 });
    assert.match(page.url(), /\?range=24h$/, "the range is kept in the URL");
    assert.equal(
      (await page.getByTestId("chart-runs").locator("figcaption").textContent())?.trim(),
      "Runs per 15 min",
    );
    assert.equal(await page.locator("button[data-range='24h']").getAttribute("aria-pressed"), "true");
    await page.reload();
    await page.locator("#fn-charts[data-range='24h']").waitFor({ timeout: 10_000 });

    await page.setViewportSize({ width: 390, height: 800 });
    // Drawn again at the narrower width (its text is not scaled down).
    const drawnWidth = async () =>
      Number(
        ((await page.getByTestId("chart-runs").locator("svg").getAttribute("viewBox")) ?? "").split(" ")[2],
      );
    await waitFor(async () => (await drawnWidth()) <= 390, {
      timeoutMs: 5_000,
      message: "charts not redrawn at 390 px",
    });
    const sideways = await page
      .locator("html")
      .evaluate((el) => el.scrollWidth - (el.ownerDocument.defaultView?.innerWidth ?? 0));
    assert.ok(sideways <= 1, `the function page overflows by ${sideways} px at 390 px`);
    await shot("function-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${stack.url}/#/functions/no-such-fn`);
    await page.getByTestId("not-found").waitFor({ timeout: 10_000 });
  });

  it("pauses and resumes a function, and replays its failed runs with a preview and progress", async () => {
    const [id] = await sendEvents(stack.url, { name: "ui/brittle", data: {} });
    const [failed] = await waitForEventRuns(stack.url, id as string);
    assert.equal(failed?.status, "Failed");
    // Replays find runs in the run listing (RUN_INDEX), written as the run ended.
    await waitFor(
      async () => {
        const res = await apiFetch(`${stack.url}/v1/runs?function_id=ui-app-brittle&status=Failed`);
        return ((await res.json()) as { data: unknown[] }).data.length === 1;
      },
      { timeoutMs: 10_000, message: "the failed run is not listed" },
    );
    await page.goto(`${stack.url}/#/functions/ui-app-brittle`);
    const toggle = page.getByTestId("pause-toggle");
    await waitFor(async () => (await toggle.textContent()) === "Pause", {
      timeoutMs: 10_000,
      message: "no Pause button",
    });
    page.once("dialog", (d) => void d.accept("shipping a fix"));
    await toggle.click();
    await page.getByTestId("paused-banner").waitFor({ timeout: 10_000 });
    assert.match(
      (await page.getByTestId("paused-banner").textContent()) ?? "",
      /Jetstep UI.*shipping a fix/s,
    );
    assert.equal(await toggle.textContent(), "Resume");
    await shot("function-paused");
    await toggle.click();
    await waitFor(async () => (await page.getByTestId("paused-banner").count()) === 0, {
      timeoutMs: 10_000,
      message: "the paused banner stayed after Resume",
    });

    await page.getByTestId("replay-open").click();
    assert.equal(await page.getByTestId("replay-submit").isDisabled(), true, "no replay before a preview");
    await page.getByTestId("replay-preview").click();
    await page.getByTestId("replay-count").waitFor({ timeout: 10_000 });
    assert.equal(await page.getByTestId("replay-count").textContent(), "1 run would be rerun.");
    await page.getByTestId("replay-submit").click();
    await page.locator('[data-testid=replay-progress][data-state="done"]').waitFor({ timeout: 15_000 });
    // The operation log: the replay, the resume and the pause, newest first, each with who.
    await waitFor(async () => (await page.getByTestId("operation-row").count()) === 3, {
      timeoutMs: 10_000,
      message: "the operation log does not list the three operations",
    });
    assert.deepEqual(
      await page
        .getByTestId("operation-row")
        .evaluateAll((rows) => rows.map((r) => r.getAttribute("data-kind"))),
      ["replay", "resume", "pause"],
    );
    assert.match(
      (await page.getByTestId("operation-row").first().textContent()) ?? "",
      /1 of 1 rerun.*Jetstep UI/s,
    );
    await shot("function-replayed");
    await waitFor(
      async () => {
        const res = await apiFetch(`${stack.url}/v1/runs?function_id=ui-app-brittle&status=Failed`);
        return ((await res.json()) as { data: unknown[] }).data.length === 2;
      },
      { timeoutMs: 15_000, message: "the replayed run never ran (and failed again)" },
    );
  });

  it("cancels a function's running runs from the list, after a preview", async () => {
    const [id] = await sendEvents(stack.url, { name: "ui/nap", data: {} });
    const run = await waitFor(
      async () => {
        const runs = await eventRunsOf(stack.url, id as string);
        return runs?.[0]?.phase === "sleeping" ? runs[0] : null;
      },
      { timeoutMs: 15_000, message: "the napper run never slept" },
    );
    await page.goto(`${stack.url}/#/runs`);
    await page
      .getByTestId("runs-filter-function")
      .locator('option[value="ui-app-napper"]')
      .waitFor({ state: "attached" });
    await page.getByTestId("runs-filter-function").selectOption("ui-app-napper");
    await page.getByTestId("cancel-matching").click();
    await page.getByTestId("cancel-count").waitFor({ timeout: 10_000 });
    assert.match(
      (await page.getByTestId("cancel-count").textContent()) ?? "",
      /^1 running run of ui-app-napper/,
    );
    await page.getByTestId("cancel-confirm").click();
    await waitFor(async () => (await eventRunsOf(stack.url, id as string))?.[0]?.status === "Cancelled", {
      timeoutMs: 15_000,
      message: `run ${run.run_id} was never cancelled`,
    });
  });

  it("renders events, functions, apps, dead letters and a 404 page, also at 390 px wide", async () => {
    for (const [route, testid] of [
      ["#/events", "event-row"],
      ["#/functions", "function-row"],
      ["#/apps", "app-row"],
      ["#/dead-letters", "dead-letter-row"],
    ] as const) {
      await page.goto(`${stack.url}/${route}`);
      await page.getByTestId(testid).first().waitFor({ timeout: 10_000 });
      await shot(route.slice(2));
    }
    await page.goto(`${stack.url}/#/runs/01NOSUCHRUN`);
    await page.getByTestId("not-found").waitFor({ timeout: 10_000 });
    await page.setViewportSize({ width: 390, height: 800 });
    await page.goto(`${stack.url}/#/runs`);
    await page.getByTestId("nav-runs").waitFor();
    await page.getByTestId("run-row").first().waitFor({ timeout: 10_000 });
    // Runs are stacked rows there: every run id is shown whole, nothing overflows sideways.
    const cut = await page
      .locator('[data-testid="run-row"] .c-id a')
      .evaluateAll((links) =>
        links
          .filter(
            (a) =>
              a.scrollWidth > a.clientWidth + 1 ||
              a.getBoundingClientRect().right > (a.ownerDocument.defaultView?.innerWidth ?? 0),
          )
          .map((a) => a.textContent),
      );
    assert.deepEqual(cut, [], "run ids cut at 390 px");
    const sideways = await page
      .locator(".table-wrap")
      .first()
      .evaluate((el) => el.scrollWidth - el.clientWidth);
    assert.ok(sideways <= 1, `the runs table overflows by ${sideways} px at 390 px`);
    await shot("runs-narrow");
    assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
  });
});

describe("the UI of jetstep start (API key required)", () => {
  const SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef";
  let stack: Stack;
  let server: Server;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    stack = await startStack({ eventKeys: ["event-key"], signingKey: SIGNING_KEY });
    const client = new Jetstep({
      id: "ui-start",
      baseUrl: stack.url,
      signingKey: SIGNING_KEY,
      eventKey: "event-key",
      env: {},
    });
    const hello = client.createFunction({ id: "hello" }, { event: "ui/hello" }, async ({ step }) =>
      step.run("say", () => "hello"),
    );
    // With a signing key our SDK registers its configured origin, so it is known before listening.
    const port = await freePort();
    server = createServer(serve({ client, functions: [hello], serveOrigin: `http://127.0.0.1:${port}` }));
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    const synced = await apiFetch(`${stack.url}/v1/apps`, {
      method: "POST",
      body: JSON.stringify({ url: `http://127.0.0.1:${port}/api/inngest` }),
    });
    assert.equal(synced.status, 200, await synced.text());
    await waitForApp(stack.url, "ui-start");
    ({ browser, page } = await openBrowser(pageErrors));
  });
  after(async () => {
    await browser?.close();
    server?.close();
    await stack?.stop();
  });

  it("asks for the key once, then sends an event (no event key needed) and removes an app", async () => {
    await page.goto(`${stack.url}/#/runs`);
    await page.getByTestId("api-key-dialog").waitFor({ timeout: 10_000 });
    await page.getByTestId("api-key-input").fill(SIGNING_KEY);
    await page.getByTestId("api-key-submit").click();
    await page.getByTestId("send-event-button").click();
    await page.getByTestId("send-event-json").fill(JSON.stringify({ name: "ui/hello", data: {} }));
    await page.getByTestId("send-event-submit").click();
    await page.getByTestId("run-row").first().waitFor({ timeout: 15_000 });

    // A URL that never registered, then removed with its row's button.
    const dead = "http://127.0.0.1:9/api/inngest";
    await page.goto(`${stack.url}/#/apps`);
    await page.getByTestId("add-app-url").fill(dead);
    await page.getByTestId("add-app-submit").click();
    const row = page.locator(`[data-testid="app-row"][data-url="${dead}"]`);
    await row.waitFor({ timeout: 15_000 });
    page.once("dialog", (d) => void d.accept());
    await row.getByTestId("remove-app").click();
    await row.waitFor({ state: "detached", timeout: 10_000 });
    // And the app itself: its functions are no longer listed.
    page.once("dialog", (d) => void d.accept());
    await page.locator('[data-testid="app-row"][data-app-id="ui-start"] [data-testid="remove-app"]').click();
    await page.locator('[data-testid="app-row"][data-app-id="ui-start"]').waitFor({ state: "detached" });
    const fns = (await (await apiFetch(`${stack.url}/v1/functions`)).json()) as { data: unknown[] };
    assert.deepEqual(fns.data, []);
    assert.equal(await page.locator("dialog[open]").count(), 0, "the key is not asked for again");
    assert.deepEqual(pageErrors, []);
  });
});
