/**
 * One app served at two URLs, through the periodic sync (`startAppSync`, a 100 ms interval) and a
 * gateway over a private nats-server: the URL holding the app keeps it while it answers, the other
 * is on standby naming the holder (no flip-flop), and takes the app over once the holder stops
 * answering or when synced by hand; the holder, back, is on standby in turn. And the periodic
 * sync's failure count after a sync by hand of a failing URL.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { SyncStatus } from "@jetstep/gateway";
import { SyncStatusStore } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { waitFor } from "../../../test/support/index.ts";
import { syncKey } from "../../gateway/src/app-sync.ts";
import { startTestGateway, type TestGateway } from "../../gateway/src/test-support.ts";
import { startAppSync } from "./runtime.ts";

const APP_ID = "served-twice";

/** An app as an SDK serves it: a sync (PUT) makes it register with the gateway. */
class FakeApp {
  url = "";
  alive = true;
  syncs = 0;
  /** Registrations that changed the app's record (moved it here). */
  moves = 0;
  /** Run once, at the next sync, before the app registers. */
  beforeRegister: (() => Promise<void>) | undefined;
  readonly #server: Server;

  constructor(gw: TestGateway) {
    this.#server = createServer(async (req, res) => {
      if (!this.alive) {
        req.socket.destroy(); // what a killed app looks like: no answer
        return;
      }
      this.syncs++;
      const hook = this.beforeRegister;
      this.beforeRegister = undefined;
      await hook?.();
      const fn = {
        id: `${APP_ID}-fn`,
        name: "fn",
        triggers: [{ event: "twice/x" }],
        steps: { step: { id: "step", name: "step", runtime: { type: "http", url: `${this.url}?fnId=x` } } },
      };
      const answer = await gw.send("POST", "/fn/register", {
        url: this.url,
        appName: APP_ID,
        functions: [fn],
      });
      if (answer.body.modified === true) this.moves++;
      res.writeHead(answer.status === 200 ? 200 : 500).end();
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/api/inngest`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

interface Listed {
  appId: string | null;
  url: string;
  sync: SyncStatus | null;
}

describe("an app served at two URLs", () => {
  let gw: TestGateway;
  let a: FakeApp;
  let b: FakeApp;
  let sync: { stop(): Promise<void> };
  let statuses: SyncStatusStore<SyncStatus>;
  before(async () => {
    gw = await startTestGateway();
    a = new FakeApp(gw);
    b = new FakeApp(gw);
    await Promise.all([a.listen(), b.listen()]);
    statuses = new SyncStatusStore<SyncStatus>(gw.buckets.functions, gw.nats.jsm);
    sync = startAppSync([a.url, b.url], 100, silentLogger(), statuses);
  });
  after(async () => {
    await sync?.stop();
    await Promise.all([a?.close(), b?.close()]);
    await gw?.stop();
  });

  const listed = async () => (await gw.send("GET", "/v1/apps")).body.data as Listed[];
  /** The URL holding the app, once the other one's status says it is on standby behind it. */
  const settled = async () => {
    const rows = await listed();
    const holder = rows.find((r) => r.appId === APP_ID);
    const standby = rows.find((r) => r.url !== holder?.url && r.sync?.heldBy);
    return holder?.sync?.ok && standby?.sync?.heldBy?.url === holder.url
      ? { holder: holder.url, standby: standby.url, status: standby.sync }
      : undefined;
  };
  /** Resolves after both URLs were synced `n` more times (the loop goes on meanwhile). */
  const passes = async (app: FakeApp, n: number) => {
    const from = app.syncs;
    await waitFor(() => app.syncs >= from + n, { timeoutMs: 30_000, message: `${n} more syncs` });
  };

  it("the holder keeps it while it answers: the other URL is on standby, naming it", async () => {
    const first = await waitFor(settled, { timeoutMs: 30_000, message: "one URL holding, one on standby" });
    const [holder, other] = first.holder === a.url ? [a, b] : [b, a];
    assert.deepEqual(first.status?.heldBy, { appId: APP_ID, url: holder.url });
    assert.match(first.status?.error ?? "", /^standby: app "served-twice" is served at http:/);
    assert.equal(first.status?.failures, undefined, "standby is not a failure");
    const moves = holder.moves + other.moves;
    await passes(other, 5);
    const later = await settled();
    assert.deepEqual(
      [later?.holder, later?.standby, later?.status?.heldBy],
      [first.holder, first.standby, first.status?.heldBy],
      "no flip-flop: five more syncs of each left it there",
    );
    assert.equal(holder.moves + other.moves, moves, "no registration moved the app");
  });

  it("a sync by hand of the standby URL moves the app there; the old holder waits", async () => {
    const { holder, standby } = (await settled()) ?? assert.fail("settled");
    const r = await gw.send("POST", "/v1/apps/sync", { url: standby });
    assert.deepEqual([r.status, r.body.data], [200, { url: standby, ok: true }]);
    const moved = await waitFor(
      async () => {
        const s = await settled();
        return s?.holder === standby ? s : undefined;
      },
      { timeoutMs: 30_000, message: "the app at the URL synced by hand, the old holder on standby" },
    );
    assert.deepEqual(moved.status?.heldBy, { appId: APP_ID, url: standby });
    assert.equal(moved.standby, holder);
  });

  it("a sync by hand keeps its claim when a standby status lands after it began", async () => {
    // A periodic sync's registration, refused just before the sync by hand began, writes its
    // standby status while the sync by hand is under way: the claim must survive it.
    const { holder, standby } = (await settled()) ?? assert.fail("settled");
    const app = standby === a.url ? a : b;
    const before = (await listed()).find((r) => r.url === standby)?.sync ?? assert.fail("a standby status");
    app.beforeRegister = () => statuses.put(syncKey(standby), { ...before, at: Date.now() });
    const r = await gw.send("POST", "/v1/apps/sync", { url: standby });
    assert.deepEqual([r.status, r.body.data], [200, { url: standby, ok: true }]);
    const moved = await waitFor(
      async () => {
        const s = await settled();
        return s?.holder === standby ? s : undefined;
      },
      { timeoutMs: 30_000, message: "the app at the URL synced by hand" },
    );
    assert.equal(moved.standby, holder);
  });

  it("the standby URL takes over when the holder stops answering; the holder, back, waits", async () => {
    const { holder: holderUrl } = (await settled()) ?? assert.fail("settled");
    const [holder, other] = holderUrl === a.url ? [a, b] : [b, a];
    holder.alive = false;
    await waitFor(
      async () => {
        const rows = await listed();
        const at = rows.find((r) => r.appId === APP_ID);
        const old = rows.find((r) => r.url === holder.url);
        return at?.url === other.url && at.sync?.ok === true && old?.sync?.ok === false;
      },
      { timeoutMs: 30_000, message: "the app moved to the standby URL" },
    );
    const old = (await listed()).find((r) => r.url === holder.url);
    assert.match(old?.sync?.error ?? "", /^could not reach /, "the old holder's sync fails");
    assert.equal(old?.sync?.heldBy, undefined);
    holder.alive = true;
    const back = await waitFor(
      async () => {
        const s = await settled();
        return s?.status?.heldBy ? s : undefined;
      },
      { timeoutMs: 30_000, message: "the old holder on standby" },
    );
    assert.deepEqual(back.status?.heldBy, { appId: APP_ID, url: other.url });
    await passes(holder, 3);
    assert.equal((await settled())?.holder, other.url, "the app stays with the URL that took it over");
  });
});

describe("the periodic sync after a sync by hand of a failing URL", () => {
  let gw: TestGateway;
  let app: FakeApp;
  let sync: { stop(): Promise<void> } | undefined;
  before(async () => {
    gw = await startTestGateway();
    app = new FakeApp(gw);
    app.alive = false;
    await app.listen();
  });
  after(async () => {
    await sync?.stop();
    await app?.close();
    await gw?.stop();
  });

  it("counts failures afresh and stores them, though the loop's own last outcome was the same", async () => {
    const statuses = new SyncStatusStore<SyncStatus>(gw.buckets.functions, gw.nats.jsm);
    // Added through the API (`POST /v1/apps` records it first), then failing at every pass. The
    // passes are 500 ms apart, so the sync by hand below lands while the loop's last outcome is
    // its first failure.
    await statuses.put(syncKey(app.url), {
      url: app.url,
      ok: false,
      error: "not synced yet",
      at: Date.now(),
    });
    sync = startAppSync([], 500, silentLogger(), statuses);
    const stored = () => statuses.get(syncKey(app.url));
    const first = await waitFor(async () => ((await stored())?.failures === 1 ? await stored() : undefined), {
      timeoutMs: 30_000,
      message: "the first failure stored",
    });
    // What a sync by hand records when it fails the same way: the outcome, with no failure count.
    await statuses.put(syncKey(app.url), {
      url: app.url,
      ok: false,
      error: first.error ?? "",
      at: Date.now(),
    });
    await waitFor(async () => ((await stored())?.failures ?? 0) >= 2, {
      timeoutMs: 30_000,
      message: "failures counted afresh and stored again after the sync by hand",
    });
  });
});
