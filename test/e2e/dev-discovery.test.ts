/**
 * `jetstep dev` without `-u` finds an app by itself (Inngest's dev server does the same): it probes
 * the common local ports (and $PORT) and serve paths, syncs what answers as an app, and lists it in
 * /v1/apps as discovered; one log line for the app found, none per probe.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import { freePort, spawnCli, waitFor } from "../support/index.ts";
import { serveApp } from "./harness.ts";

interface ListedApp {
  appId: string | null;
  url: string;
  functions: unknown[];
  sync: { ok: boolean; discovered?: boolean } | null;
}

describe("jetstep dev auto-discovery", () => {
  const cwd = mkdtempSync(join(tmpdir(), "jetstep-discovery-"));
  after(() => rmSync(cwd, { recursive: true, force: true }));

  it("syncs an app it finds on $PORT and lists it as discovered", async () => {
    const gatewayPort = await freePort();
    const client = new Jetstep({ id: "found-app", baseUrl: `http://127.0.0.1:${gatewayPort}` });
    const fn = client.createFunction({ id: "greet" }, { event: "found/hello" }, async () => "hi");
    const app = await serveApp(serve({ client, functions: [fn] }));
    const appPort = new URL(app.url).port;
    const dev = spawnCli(["dev", "--port", String(gatewayPort), "--poll-interval", "1", "--json"], {
      cwd,
      env: { NATS_URL: undefined, PORT: appPort },
    });
    try {
      await dev.waitForLine(/dev server ready/, 60_000);
      const listed = await waitFor(
        async () => {
          const apps = (
            (await (await fetch(`http://127.0.0.1:${gatewayPort}/v1/apps`)).json()) as { data: ListedApp[] }
          ).data;
          return apps.find((a) => a.url === app.url && a.appId === "found-app" && a.sync?.ok) ?? null;
        },
        { timeoutMs: 60_000, message: "the app on $PORT was discovered and synced" },
      );
      assert.equal(listed.sync?.discovered, true, "listed apart from configured apps");
      assert.equal(listed.functions.length, 1);
      const said = dev.lines().filter((l) => /discover/i.test(l) && !l.includes("dev server ready"));
      assert.equal(said.length, 1, said.join("\n"));
      assert.match(said[0] ?? "", new RegExp(`discovered an app at ${app.url.replace(/[.]/g, "\\.")}`));
    } finally {
      await dev.kill("SIGTERM");
      await app.close();
    }
  });
});
