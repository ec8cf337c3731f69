import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type KV, Kvm, type KvWatchEntry } from "@nats-io/kv";
import { type NatsServerHandle, startNatsServer, waitFor } from "../../../test/support/index.ts";
import { connectNats, type Nats } from "./connection.ts";
import { KvFollower } from "./kv-follower.ts";
import { eraseKvKey } from "./subject-scan.ts";

/**
 * `kv`, except that its first watch goes dead once it delivered the current values (`stall`), or
 * ends by itself there (`end`): what a watch whose consumer lived on a dead node looks like.
 */
function breakFirstWatch(kv: KV, how: "stall" | "end"): { kv: KV; watches: () => number; end: () => void } {
  let watches = 0;
  // "end": the first watch ends when the test says, after its writes. Ending at once raced them:
  // under load the new watch could load before the key was erased, and a key erased without a
  // marker is seen only by a new watch's load.
  let end: () => void = () => {};
  const ended = new Promise<void>((r) => {
    end = r;
  });
  const broken = Object.create(kv) as KV;
  broken.watch = (async (opts: Parameters<KV["watch"]>[0]) => {
    const real = await kv.watch(opts);
    if (watches++ > 0) return real;
    let release: () => void = () => {};
    const stopped = new Promise<void>((r) => {
      release = r;
    });
    async function* deliver(): AsyncGenerator<KvWatchEntry> {
      for await (const e of real as AsyncIterable<KvWatchEntry>) {
        yield e;
        if (e.delta === 0) break;
      }
      if (how === "stall") await stopped;
      else await Promise.race([ended, stopped]);
    }
    const it = deliver();
    return Object.assign(it, {
      stop: () => {
        release();
        real.stop();
      },
    });
  }) as KV["watch"];
  return { kv: broken, watches: () => watches, end };
}

describe("KvFollower", () => {
  let server: NatsServerHandle;
  let nats: Nats;
  let n = 0;
  const bucket = async (): Promise<{ kv: KV; name: string }> => {
    const name = `FOLLOW${n++}`;
    return { kv: await new Kvm(nats.js).create(name, { history: 1 }), name };
  };

  before(async () => {
    server = await startNatsServer();
    nats = await connectNats({ servers: server.url });
  });
  after(async () => {
    await nats.close();
    await server.stop();
  });

  it("delivers the current values before start() resolves, then the changes", async () => {
    const { kv } = await bucket();
    await kv.put("a", "1");
    await kv.put("b", "2");
    const seen = new Map<string, string>();
    const f = new KvFollower(kv, {
      onEntry: (e) => (e.operation === "PUT" ? seen.set(e.key, e.string()) : seen.delete(e.key)),
      onWarn: () => {},
    });
    await f.start();
    assert.deepEqual(Object.fromEntries(seen), { a: "1", b: "2" });
    await kv.put("c", "3");
    await kv.delete("a");
    await waitFor(() => seen.get("c") === "3" && !seen.has("a"), { timeoutMs: 5_000 });
    f.stop();
  });

  it("starts at once on an empty bucket", async () => {
    const { kv } = await bucket();
    const f = new KvFollower(kv, { onEntry: () => {}, onWarn: () => {} });
    await f.start();
    f.stop();
  });

  for (const how of ["stall", "end"] as const) {
    it(`watches again when its watch ${how === "stall" ? "stalls" : "ends by itself"}, missing nothing`, async () => {
      const { kv: real, name } = await bucket();
      await real.put("kept", "1");
      await real.put("erased", "1");
      const { kv, watches, end } = breakFirstWatch(real, how);
      const seen = new Map<string, string>();
      const warnings: string[] = [];
      const f = new KvFollower(kv, {
        onEntry: (e) => (e.operation === "PUT" ? seen.set(e.key, e.string()) : seen.delete(e.key)),
        onResync: (present) => {
          for (const k of [...seen.keys()]) if (!present.has(k)) seen.delete(k);
        },
        onWarn: (m) => warnings.push(m),
        checkMs: 50,
      });
      await f.start();
      assert.deepEqual([...seen.keys()].sort(), ["erased", "kept"]);
      // Written while the watch is broken: a put, and a key removed without a delete marker.
      await real.put("late", "2");
      await eraseKvKey(nats.jsm, name, "erased");
      end();
      await waitFor(() => seen.get("late") === "2" && !seen.has("erased"), {
        timeoutMs: 5_000,
        message: `not caught up (warnings: ${warnings.join("; ")})`,
      });
      assert.equal(watches(), 2);
      assert.match(warnings.join("; "), how === "stall" ? /stalled at revision/ : /ended by itself/);
      // The new watch follows live changes.
      await real.put("after", "3");
      await waitFor(() => seen.get("after") === "3", { timeoutMs: 5_000 });
      f.stop();
    });
  }

  it("leaves a healthy watch alone, also when messages were removed from the stream", async () => {
    const { kv: real, name } = await bucket();
    await real.put("x", "1");
    await real.put("y", "1");
    // The last message is gone: the stream's last sequence stays beyond anything a watch can see.
    const last = (await real.status()).streamInfo.state.last_seq;
    await nats.jsm.streams.deleteMessage(`KV_${name}`, last);
    const { kv, watches } = breakFirstWatch(real, "stall");
    // Counts answered status reads: the follower's checks compare the watch with the stream's.
    let statusReads = 0;
    const status = kv.status;
    kv.status = async function (this: KV) {
      const s = await status.call(this);
      statusReads++;
      return s;
    };
    const warnings: string[] = [];
    const f = new KvFollower(kv, { onEntry: () => {}, onWarn: (m) => warnings.push(m), checkMs: 50 });
    await f.start();
    // Four checks answered since the watch was made: a stall is called on the second in a row.
    const atStart = statusReads;
    await waitFor(() => statusReads >= atStart + 4, { timeoutMs: 5_000, message: "4 watch checks" });
    assert.deepEqual(warnings, [], "no false stall");
    assert.equal(watches(), 1, `no false stall (warnings: ${warnings.join("; ")})`);
    f.stop();
  });
});
