import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { IdleTimeoutError, idleTimeout, withTimeout } from "./idle-timeout.ts";

async function* slow(delays: number[]): AsyncGenerator<number> {
  for (const [i, d] of delays.entries()) {
    await new Promise((r) => setTimeout(r, d));
    yield i;
  }
}

describe("idleTimeout", () => {
  it("passes through a source that keeps delivering, however long it takes in total", async () => {
    const out: number[] = [];
    for await (const v of idleTimeout(slow([30, 30, 30, 30, 30]), 100, "read", () => undefined)) out.push(v);
    assert.deepEqual(out, [0, 1, 2, 3, 4]);
  });

  it("ends the source when the caller breaks out early, as a plain for-await does", async () => {
    let finished = false;
    async function* source(): AsyncGenerator<number> {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finished = true;
      }
    }
    for await (const v of idleTimeout(source(), 100, "read", () => undefined)) if (v === 2) break;
    assert.ok(finished);
  });

  it("fails a source that stalls, and stops it", async () => {
    let stopped = false;
    const out: number[] = [];
    await assert.rejects(
      async () => {
        for await (const v of idleTimeout(slow([5, 5, 1000]), 50, "loading timers", () => {
          stopped = true;
        }))
          out.push(v);
      },
      (e: Error) =>
        e instanceof IdleTimeoutError && /loading timers: nothing arrived for 50 ms/.test(e.message),
    );
    assert.deepEqual(out, [0, 1]);
    assert.ok(stopped);
  });
});

describe("withTimeout", () => {
  const after = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

  it("returns a value in time and does not dispose of it", async () => {
    const disposed: string[] = [];
    assert.equal(await withTimeout(after(5, "a"), 200, "x", (v) => disposed.push(v)), "a");
    await after(20, null);
    assert.deepEqual(disposed, []);
  });

  it("fails after the deadline and disposes of the value that arrives late", async () => {
    const disposed: string[] = [];
    await assert.rejects(
      withTimeout(after(60, "late"), 20, "creating a consumer", (v) => disposed.push(v)),
      (e: Error) => e instanceof IdleTimeoutError && /creating a consumer/.test(e.message),
    );
    await waitUntil(() => disposed.length > 0);
    assert.deepEqual(disposed, ["late"]);
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}
