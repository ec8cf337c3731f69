/**
 * Finding and building the pinned programs, with stand-ins for nats-server and go (shell scripts
 * that print a version, or "build" one), in temp folders: the lookup order, the refusal of an old
 * server, a cached build that is not rebuilt, and builds that fail leave nothing behind.
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { cachedBinary } from "./cache.ts";
import { ToolchainError } from "./errors.ts";
import { locateNatsServer, requireNatsServer } from "./find.ts";
import { installTool } from "./install.ts";
import { Tools } from "./tools.ts";

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "jetstep-toolchain-"));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function script(path: string, body: string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}
const fakeNats = (path: string, version: string) => script(path, `echo 'nats-server: v${version}'`);

const rejects = async (p: Promise<unknown>, code: string, message: RegExp) => {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ToolchainError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  });
};

describe("finding nats-server", () => {
  it("looks in NATS_SERVER_BIN, then the cache, then PATH", () => {
    const cache = temp();
    const pathDir = temp();
    const explicit = fakeNats(join(temp(), "nats-server"), "2.14.0");
    fakeNats(join(pathDir, "nats-server"), "2.13.0");
    const env = { JETSTEP_CACHE_DIR: cache, PATH: pathDir };
    assert.deepEqual(locateNatsServer(env), {
      path: join(pathDir, "nats-server"),
      source: "PATH",
      version: "2.13.0",
    });
    const cached = fakeNats(cachedBinary(Tools.natsServer, env), Tools.natsServer.version);
    assert.equal(locateNatsServer(env)?.source, "cache");
    assert.equal(locateNatsServer(env)?.path, cached);
    assert.deepEqual(locateNatsServer({ ...env, NATS_SERVER_BIN: explicit }), {
      path: explicit,
      source: "NATS_SERVER_BIN",
      version: "2.14.0",
    });
    assert.equal(locateNatsServer({ JETSTEP_CACHE_DIR: temp(), PATH: temp() }), undefined);
  });

  it("refuses one older than 2.12.0, naming the version found, the one needed and the command", async () => {
    const old = fakeNats(join(temp(), "nats-server"), "2.9.10");
    await rejects(
      Promise.resolve().then(() => requireNatsServer({ NATS_SERVER_BIN: old })),
      "TOO_OLD",
      new RegExp(
        `^nats-server 2\\.9\\.10 \\(${old}, from NATS_SERVER_BIN\\) is older than 2\\.12\\.0, which Jetstep needs: build nats-server ${Tools.natsServer.version} with: npx jetstep install nats-server$`,
      ),
    );
    const garbage = script(join(temp(), "nats-server"), "echo hello");
    await rejects(
      Promise.resolve().then(() => requireNatsServer({ NATS_SERVER_BIN: garbage })),
      "TOO_OLD",
      /^nats-server unknown /,
    );
    await rejects(
      Promise.resolve().then(() => requireNatsServer({ NATS_SERVER_BIN: "/nope/nats-server" })),
      "NOT_FOUND",
      /^NATS_SERVER_BIN=\/nope\/nats-server does not exist/,
    );
    await rejects(
      Promise.resolve().then(() => requireNatsServer({ JETSTEP_CACHE_DIR: temp(), PATH: temp() })),
      "NOT_FOUND",
      /^nats-server not found .*: build nats-server .* with: npx jetstep install nats-server$/,
    );
    assert.equal(
      requireNatsServer({ NATS_SERVER_BIN: fakeNats(join(temp(), "n"), "2.12.0") }).version,
      "2.12.0",
    );
  });
});

describe("building a pinned program", () => {
  const tool = Tools.natsServer;
  /** A go stand-in: `go env GOVERSION` answers, `go install` runs `onInstall` with $GOBIN set. */
  const fakeGo = (onInstall: string) =>
    script(
      join(temp(), "go"),
      `case "$1" in
  env) echo go1.26.8 ;;
  install) ${onInstall} ;;
  *) echo "unexpected go $*" >&2; exit 9 ;;
esac`,
    );

  it("builds into a temp folder, checks the version, moves it into the cache; a second run builds nothing", async () => {
    const env = { JETSTEP_CACHE_DIR: temp(), PATH: "/usr/bin:/bin" };
    const marker = join(temp(), "builds");
    const go = fakeGo(
      `mkdir -p "$GOBIN" && printf '#!/bin/sh\\necho "nats-server: v${tool.version}"\\n' > "$GOBIN/nats-server" && chmod +x "$GOBIN/nats-server" && echo built >> ${marker}`,
    );
    const lines: string[] = [];
    const first = await installTool(tool, { env, go, log: (l) => lines.push(l) });
    assert.deepEqual(first, { path: cachedBinary(tool, env), built: true });
    assert.match(
      lines[0] as string,
      new RegExp(`^building nats-server ${tool.version} from ${tool.module} with go1\\.26\\.8`),
    );
    assert.match(lines.at(-1) as string, new RegExp(`^nats-server ${tool.version} built in \\d+ s: `));
    assert.equal(requireNatsServer(env).source, "cache");
    const second = await installTool(tool, { env, go, log: (l) => lines.push(l) });
    assert.deepEqual(second, { path: cachedBinary(tool, env), built: false });
    assert.equal(readFileSync(marker, "utf8"), "built\n", "built once");
  });

  it("a failed build, or one of the wrong version, leaves nothing to be picked up", async () => {
    const env = { JETSTEP_CACHE_DIR: temp(), PATH: "/usr/bin:/bin" };
    const failing = fakeGo(`echo "compile: something broke" >&2; exit 2`);
    await rejects(
      installTool(tool, { env, go: failing }),
      "BUILD_FAILED",
      /failed \(go install exited with 2\): compile: something broke — full log: .*nats-server-2\.15\.2\.build\.log$/,
    );
    const wrong = fakeGo(
      `mkdir -p "$GOBIN" && printf '#!/bin/sh\\necho "nats-server: v2.9.10"\\n' > "$GOBIN/nats-server" && chmod +x "$GOBIN/nats-server"`,
    );
    await rejects(
      installTool(tool, { env, go: wrong }),
      "WRONG_BINARY",
      /reports version 2\.9\.10, not 2\.15\.2/,
    );
    assert.equal(existsSync(cachedBinary(tool, env)), false);
    const leftovers = readdirSync(env.JETSTEP_CACHE_DIR).filter((f) => !f.endsWith(".build.log"));
    assert.deepEqual(leftovers, [], "no temp folder left");
  });

  it("without Go, or with one too old, says what is missing", async () => {
    const env = { JETSTEP_CACHE_DIR: temp(), PATH: "/usr/bin:/bin" };
    await rejects(
      installTool(tool, { env, go: null }),
      "NO_GO",
      /^Go toolchain not found .*needs Go 1\.26\.0 or newer$/,
    );
    const oldGo = script(join(temp(), "go"), "echo go1.19.8");
    await rejects(
      installTool(tool, { env, go: oldGo }),
      "NO_GO",
      /is go1\.19\.8: building nats-server 2\.15\.2 needs Go 1\.26\.0/,
    );
  });
});
