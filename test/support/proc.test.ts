import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "./free-port.ts";
import { spawnTs } from "./proc.ts";

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "jetstep-proc-test-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, source: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, source);
  return path;
}

describe("spawnTs", () => {
  it("runs TypeScript from any cwd and matches output lines", async () => {
    const path = await script(
      "hello.mts",
      `const who: string = process.argv[2] ?? "?";
console.log("hello " + who + " " + process.env.GREETING);
console.error("on stderr");
setInterval(() => {}, 1000);
`,
    );
    const p = spawnTs(path, ["world"], { env: { GREETING: "hi" }, cwd: dir });
    try {
      const m = await p.waitForLine(/^hello (\w+) (\w+)$/, 10_000);
      assert.deepEqual([m[1], m[2]], ["world", "hi"]);
      await p.waitForLine(/on stderr/, 5_000);
    } finally {
      const exit = await p.kill("SIGTERM");
      assert.equal(exit.signal, "SIGTERM");
    }
  });

  it("rejects waitForLine with the output when the child exits first", async () => {
    const path = await script("fail.mts", `console.log("about to fail"); process.exit(3);\n`);
    const p = spawnTs(path);
    await assert.rejects(p.waitForLine(/never/, 10_000), /exited \(code 3[\s\S]*about to fail/);
    assert.deepEqual(await p.exited, { code: 3, signal: null });
  });

  it("kills a child's nats-server when the child exits without stop()", async () => {
    const launcher = new URL("./nats-server.ts", import.meta.url).href;
    const path = await script(
      "forgetful.mts",
      `import { startNatsServer } from ${JSON.stringify(launcher)};
const srv = await startNatsServer();
console.log("server pid " + srv.pid);
`,
    );
    const p = spawnTs(path);
    const m = await p.waitForLine(/^server pid (\d+)$/, 15_000);
    // The unref'd server must not keep the child alive...
    const exit = await p.exited;
    assert.equal(exit.code, 0, p.output());
    // ...and the child's exit handler must have killed it (it is reparented, so no zombie stays).
    const pid = Number(m[1]);
    const deadline = Date.now() + 5_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false);
  });
});

describe("freePort", () => {
  it("returns a port that can be bound", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port !== 4222);
    const srv = createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once("error", reject);
      srv.listen(port, "127.0.0.1", resolve);
    });
    await new Promise((resolve) => srv.close(resolve));
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
