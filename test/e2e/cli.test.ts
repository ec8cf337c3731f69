/** `jetstep dev` as a user runs it: embedded nats-server under ./.jetstep, gateway, clean shutdown. */
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { Tools } from "@jetstep/toolchain";
import { freePort, spawnCli } from "../support/index.ts";

describe("jetstep dev", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "jetstep-cli-"));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("starts an embedded nats-server with its store under ./.jetstep and serves the gateway", async () => {
    const cwd = tempDir();
    const port = await freePort();
    const proc = spawnCli(["dev", "--port", String(port), "--json"], {
      cwd,
      env: { NATS_URL: undefined },
    });
    try {
      await proc.waitForLine(/dev server ready/, 30_000);
      assert.ok(
        existsSync(join(cwd, ".jetstep", "nats", "jetstream")),
        "JetStream store under .jetstep/nats",
      );
      // Durable before ack: the embedded server fsyncs every write before acknowledging it.
      assert.match(readFileSync(join(cwd, ".jetstep", "nats", "nats.conf"), "utf8"), /sync_interval: always/);
      const started = proc.lines().find((l) => l.includes("embedded nats-server started")) ?? "";
      assert.match(started, new RegExp(`"version":"${Tools.natsServer.version}"`), started);
      const res = await fetch(`http://127.0.0.1:${port}/e/key`, {
        method: "POST",
        body: JSON.stringify({ name: "cli/hello" }),
      });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { ids: string[] }).ids.length, 1);
    } finally {
      const exit = await proc.kill("SIGTERM");
      assert.equal(exit.code, 0, proc.output());
    }
  });

  it("exits with one line saying what is wrong when nats-server cannot be found", async () => {
    const proc = spawnCli(["dev", "--port", "0"], {
      cwd: tempDir(),
      env: { NATS_URL: undefined, NATS_SERVER_BIN: "/nonexistent/nats-server" },
    });
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.match(proc.output(), /NATS_SERVER_BIN=\/nonexistent\/nats-server does not exist/);
  });

  it("refuses a nats-server older than the minimum in one line naming both versions and the fix", async () => {
    const dir = tempDir();
    const old = join(dir, "nats-server");
    writeFileSync(old, "#!/bin/sh\necho 'nats-server: v2.9.10'\n");
    chmodSync(old, 0o755);
    const proc = spawnCli(["dev", "--port", "0"], {
      cwd: dir,
      env: { NATS_URL: undefined, NATS_SERVER_BIN: old },
    });
    const exit = await proc.exited;
    assert.equal(exit.code, 1);
    assert.equal(
      proc.output().trim(),
      `nats-server 2.9.10 (${old}, from NATS_SERVER_BIN) is older than 2.12.0, which Jetstep needs: build nats-server ${Tools.natsServer.version} with: npx jetstep install nats-server`,
    );
  });

  it("jetstep install finds a cached build and builds nothing; rejects unknown programs", async () => {
    const cache = tempDir();
    const cached = join(cache, "nats-server", Tools.natsServer.version, "nats-server");
    mkdirSync(join(cached, ".."), { recursive: true });
    writeFileSync(cached, `#!/bin/sh\necho 'nats-server: v${Tools.natsServer.version}'\n`);
    chmodSync(cached, 0o755);
    const env = { JETSTEP_CACHE_DIR: cache, PATH: "/nonexistent" };
    const proc = spawnCli(["install", "nats-server", "--print-path"], { cwd: cache, env });
    assert.equal((await proc.exited).code, 0, proc.output());
    assert.match(
      proc.output(),
      new RegExp(`nats-server ${Tools.natsServer.version} already built: ${cached}`),
    );
    assert.ok(proc.lines().includes(cached), "--print-path prints the path");
    assert.doesNotMatch(proc.output(), /building/, "nothing was built");
    const bad = spawnCli(["install", "redis"], { cwd: cache, env });
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.output(), /jetstep install: unknown program "redis"/);
  });

  it("rejects bad flags with usage", async () => {
    const proc = spawnCli(["dev", "--port", "notaport"], { cwd: tempDir() });
    const exit = await proc.exited;
    assert.equal(exit.code, 2);
    assert.match(proc.output(), /--port: notaport is not a port number/);
  });
});
