import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { type NatsServerHandle, NatsServerStartError, startNatsServer } from "./nats-server.ts";

// Servers started by a test; stopped even when an assertion fails first.
const started: NatsServerHandle[] = [];
async function start(opts?: Parameters<typeof startNatsServer>[0]): Promise<NatsServerHandle> {
  const srv = await startNatsServer(opts);
  started.push(srv);
  return srv;
}
after(async () => {
  await Promise.all(started.map((s) => s.stop()));
});

describe("startNatsServer", () => {
  it("starts on a server-chosen port with JetStream enabled", async () => {
    const srv = await start();
    assert.notEqual(srv.port, 4222);
    assert.equal(srv.url, `nats://127.0.0.1:${srv.port}`);
    assert.ok(srv.pid > 0);
    assert.ok(existsSync(srv.storeDir));
    const nc = await RawNats.connect(srv.port);
    try {
      assert.equal(nc.info.jetstream, true, srv.stderr());
      assert.equal(nc.info.port, srv.port);
    } finally {
      nc.close();
    }
  });

  it("starts without JetStream when asked", async () => {
    const srv = await start({ jetstream: false });
    const nc = await RawNats.connect(srv.port);
    nc.close();
    assert.notEqual(nc.info.jetstream, true);
  });

  it("applies configText, with our port flag overriding the file's", async () => {
    const srv = await start({ configText: "port: 4222\nmax_payload: 12345\n" });
    assert.notEqual(srv.port, 4222);
    const nc = await RawNats.connect(srv.port);
    nc.close();
    assert.equal(nc.info.max_payload, 12345);
  });

  it("rejects with the server's output when it cannot start", async () => {
    await assert.rejects(startNatsServer({ args: ["--no_such_flag"] }), (err: unknown) => {
      assert.ok(err instanceof NatsServerStartError);
      assert.match(err.message, /no_such_flag/);
      return true;
    });
  });

  it("refuses port 4222", async () => {
    await assert.rejects(startNatsServer({ port: 4222 }), NatsServerStartError);
  });
});

describe("restart", () => {
  it("keeps the store dir and port, so streams survive a SIGKILL", async () => {
    const srv = await start();
    const { storeDir, port } = srv;
    const nc = await RawNats.connect(srv.port);
    const created = JSON.parse(
      await nc.request(
        "$JS.API.STREAM.CREATE.ORDERS",
        JSON.stringify({ name: "ORDERS", subjects: ["orders.>"] }),
      ),
    );
    nc.close();
    assert.equal(created.config?.name, "ORDERS", JSON.stringify(created));

    const oldPid = srv.pid;
    await srv.kill("SIGKILL");
    const same = await srv.restart();
    assert.equal(same, srv);
    assert.notEqual(srv.pid, oldPid);
    assert.equal(srv.storeDir, storeDir);
    assert.equal(srv.port, port);

    const nc2 = await RawNats.connect(srv.port);
    try {
      const info = JSON.parse(await nc2.request("$JS.API.STREAM.INFO.ORDERS", ""));
      assert.equal(info.config?.name, "ORDERS", `${JSON.stringify(info)}\n${srv.stderr()}`);
    } finally {
      nc2.close();
    }
    assert.match(srv.stderr(), /--- restart/);
  });

  it("moves to a new port when the old one was taken meanwhile", async () => {
    const srv = await start();
    const oldPort = srv.port;
    await srv.kill();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(oldPort, "127.0.0.1", resolve));
    try {
      await srv.restart();
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    assert.notEqual(srv.port, oldPort);
    assert.match(srv.stderr(), /retrying on -1/);
    const nc = await RawNats.connect(srv.port);
    nc.close();
  });

  it("restarts a running server gracefully", async () => {
    const srv = await start();
    const oldPid = srv.pid;
    await srv.restart();
    assert.notEqual(srv.pid, oldPid);
    assert.equal(processAlive(oldPid), false);
    const nc = await RawNats.connect(srv.port);
    nc.close();
    assert.equal(nc.info.jetstream, true);
  });
});

describe("stop", () => {
  it("kills the process and removes its temp dirs", async () => {
    const srv = await startNatsServer();
    const { pid, storeDir, port } = srv;
    await srv.stop();
    await srv.stop(); // idempotent
    assert.equal(processAlive(pid), false);
    assert.equal(existsSync(storeDir), false);
    assert.equal(existsSync(dirname(storeDir)), false);
    await assert.rejects(RawNats.connect(port));
    await assert.rejects(srv.restart(), NatsServerStartError);
  });

  it("keeps a caller-supplied store dir", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jetstep-test-store-"));
    try {
      const srv = await startNatsServer({ storeDir: dir });
      assert.equal(srv.storeDir, dir);
      await srv.stop();
      assert.ok(existsSync(join(dir, "jetstream")));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Just enough of the NATS text protocol to read INFO and make a request; no @nats-io here. */
class RawNats {
  readonly info: Record<string, unknown>;
  readonly #socket: Socket;
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  #msgs: string[] = [];
  #nextSid = 1;

  private constructor(socket: Socket, info: Record<string, unknown>) {
    this.#socket = socket;
    this.info = info;
  }

  static connect(port: number, timeoutMs = 2_000): Promise<RawNats> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port });
      socket.setTimeout(timeoutMs, () => {
        socket.destroy();
        reject(new Error(`no INFO from port ${port}`));
      });
      socket.once("error", reject);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const eol = head.indexOf("\r\n");
        if (eol < 0) return;
        socket.off("data", onData);
        socket.setTimeout(0);
        const line = head.subarray(0, eol).toString();
        if (!line.startsWith("INFO ")) {
          socket.destroy();
          reject(new Error(`expected INFO, got ${line}`));
          return;
        }
        const nc = new RawNats(socket, JSON.parse(line.slice(5)));
        nc.#buf = head.subarray(eol + 2);
        socket.on("data", (c: Buffer) => nc.#onData(c));
        socket.write('CONNECT {"verbose":false,"pedantic":false,"lang":"raw","version":"0"}\r\n');
        resolve(nc);
      };
      socket.on("data", onData);
    });
  }

  /** Publishes `payload` to `subject` with a fresh reply subject and returns the first reply. */
  async request(subject: string, payload: string, timeoutMs = 5_000): Promise<string> {
    const sid = this.#nextSid++;
    const inbox = `_INBOX.raw.${sid}`;
    const body = Buffer.from(payload);
    this.#socket.write(`SUB ${inbox} ${sid}\r\nUNSUB ${sid} 1\r\n`);
    this.#socket.write(`PUB ${subject} ${inbox} ${body.length}\r\n`);
    this.#socket.write(Buffer.concat([body, Buffer.from("\r\n")]));
    const deadline = Date.now() + timeoutMs;
    while (this.#msgs.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply to ${subject} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.#msgs.shift() ?? "";
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const eol = this.#buf.indexOf("\r\n");
      if (eol < 0) return;
      const line = this.#buf.subarray(0, eol).toString();
      if (line.startsWith("MSG ")) {
        const size = Number(line.split(" ").at(-1));
        if (this.#buf.length < eol + 2 + size + 2) return;
        this.#msgs.push(this.#buf.subarray(eol + 2, eol + 2 + size).toString());
        this.#buf = this.#buf.subarray(eol + 2 + size + 2);
        for (const w of this.#waiters.splice(0)) w();
        continue;
      }
      if (line === "PING") this.#socket.write("PONG\r\n");
      this.#buf = this.#buf.subarray(eol + 2);
    }
  }
}
