/**
 * `jetstep` as a user first meets it, as a process: help on stdout with exit 0 (what each help says
 * is in services/cli/src/help.test.ts), an unknown command (exit 2), and a taken port found before
 * anything starts, in one line that names --port.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { spawnCli } from "../support/index.ts";

async function run(args: string[], cwd?: string) {
  const proc = spawnCli(args, { ...(cwd ? { cwd } : {}), env: { NATS_URL: undefined } });
  const exit = await proc.exited;
  return { ...exit, out: proc.lines() };
}

describe("jetstep usage", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("prints help on stdout with exit code 0 (which help: help.test.ts)", async () => {
    const r = await run(["dev", "--help"]);
    assert.equal(r.code, 0, r.out.join("\n"));
    assert.match(r.out[0] ?? "", /^usage: jetstep dev/);
  });

  it("refuses an unknown command with exit code 2 and the list of commands", async () => {
    const r = await run(["deploy"]);
    assert.equal(r.code, 2);
    assert.equal(r.out[0], 'jetstep: unknown command "deploy"');
    assert.match(r.out.join("\n"), /commands:/);
  });

  it("finds a taken port before starting anything and says so in one line naming --port", async () => {
    const taken: Server = await new Promise((resolve) => {
      const s = createServer();
      s.listen({ host: "127.0.0.1", port: 0 }, () => resolve(s));
    });
    const port = (taken.address() as { port: number }).port;
    const cwd = mkdtempSync(join(tmpdir(), "jetstep-usage-"));
    dirs.push(cwd);
    try {
      const r = await run(["dev", "--port", String(port)], cwd);
      assert.equal(r.code, 1);
      assert.deepEqual(r.out, [
        `jetstep dev: port ${port} on 127.0.0.1 is already in use (another Jetstep or dev server?): choose another with --port`,
      ]);
      const s = await run(
        [
          "start",
          "--nats-url",
          "nats://127.0.0.1:1",
          "--event-key",
          "k",
          "--signing-key",
          `signkey-test-${"a".repeat(64)}`,
          "--host",
          "127.0.0.1",
          "--port",
          String(port),
        ],
        cwd,
      );
      assert.equal(s.code, 1, s.out.join("\n"));
      assert.deepEqual(s.out, [
        `jetstep start: port ${port} on 127.0.0.1 is already in use (another Jetstep or dev server?): choose another with --port`,
      ]);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
