/** GET /v1/runs and GET /v1/events: filters and cursor pagination over 1,000 runs (RUN_INDEX, not RUNS). */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Jetstep, NonRetriableError, serve } from "jetstep";
import { waitFor } from "../support/index.ts";
import { type ServedApp, type Stack, sendEvents, startApp, startStack } from "./harness.ts";

interface ListedRun {
  run_id: string;
  function_id: string;
  status: string;
  event_name: string;
  run_started_at: string;
}

describe("listing runs and events", () => {
  let stack: Stack;
  let app: ServedApp | undefined;
  const list = async <T>(path: string) => {
    const res = await fetch(`${stack.url}${path}`);
    return {
      status: res.status,
      body: (await res.json()) as { data: T[]; cursor: string | null; error?: string },
    };
  };
  const all = async <T>(path: string, limit: number) => {
    const out: T[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const sep = path.includes("?") ? "&" : "?";
      const query: string = `${path}${sep}limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`;
      const r: { status: number; body: { data: T[]; cursor: string | null } } = await list<T>(query);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      out.push(...r.body.data);
      cursor = r.body.cursor;
      pages++;
    } while (cursor && pages < 100);
    return { items: out, pages };
  };

  before(async () => {
    stack = await startStack();
    const client = new Jetstep({ id: "lister", baseUrl: stack.url });
    const ok = client.createFunction({ id: "ok" }, { event: "list/ok" }, async ({ event }) => event.data.i);
    const bad = client.createFunction({ id: "bad", retries: 0 }, { event: "list/bad" }, async () => {
      throw new NonRetriableError("nope");
    });
    app = await startApp(stack.url, "lister", serve({ client, functions: [ok, bad] }));
    await sendEvents(stack.url, [
      ...Array.from({ length: 990 }, (_, i) => ({ name: "list/ok", data: { i } })),
      ...Array.from({ length: 10 }, (_, i) => ({ name: "list/bad", data: { i } })),
    ]);
    await waitFor(
      async () => {
        const r = await all<ListedRun>("/v1/runs", 200);
        return r.items.length === 1000 && r.items.every((x) => x.status !== "Running");
      },
      { timeoutMs: 120_000, intervalMs: 1000, message: "1000 runs did not all end" },
    );
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("pages through 1,000 runs with a cursor, each run once, newest change first", async () => {
    const { items, pages } = await all<ListedRun>("/v1/runs", 150);
    assert.equal(pages, 7);
    assert.equal(items.length, 1000);
    assert.equal(new Set(items.map((r) => r.run_id)).size, 1000);
  });

  it("filters by status, function, event name and time", async () => {
    const failed = await all<ListedRun>("/v1/runs?status=Failed", 50);
    assert.equal(failed.items.length, 10);
    assert.ok(failed.items.every((r) => r.function_id === "lister-bad"));
    const byFn = await all<ListedRun>("/v1/runs?function_id=lister-ok&status=Completed,Failed", 200);
    assert.equal(byFn.items.length, 990);
    const byEvent = await all<ListedRun>("/v1/runs?event_name=list/bad", 200);
    assert.equal(byEvent.items.length, 10);
    const future = await list<ListedRun>(`/v1/runs?from=${new Date(Date.now() + 60_000).toISOString()}`);
    assert.deepEqual(future.body.data, []);
  });

  it("lists events newest first with a name filter and a cursor", async () => {
    const bad = await all<{ name: string; data: { i: number } }>("/v1/events?name=list/bad", 4);
    assert.equal(bad.items.length, 10);
    assert.equal(bad.pages, 3);
    assert.deepEqual(
      bad.items.map((e) => e.data.i),
      [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    );
    const recent = await list<{ name: string }>("/v1/events?limit=5");
    assert.ok(
      recent.body.data.every((e) => !e.name.startsWith("inngest/")),
      "internal events hidden by default",
    );
  });

  it("rejects bad query parameters naming the field", async () => {
    const r = await list("/v1/runs?status=Sleeping");
    assert.equal(r.status, 400);
    assert.match(r.body.error ?? "", /^status/);
    const l = await list("/v1/events?limit=5000");
    assert.equal(l.status, 400);
    assert.match(l.body.error ?? "", /^limit/);
  });
});
