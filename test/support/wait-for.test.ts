import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { WaitForTimeoutError, waitFor } from "./wait-for.ts";

describe("waitFor", () => {
  it("resolves with the first truthy value", async () => {
    let n = 0;
    const v = await waitFor(() => (++n >= 3 ? { n } : undefined), { timeoutMs: 1_000, intervalMs: 1 });
    assert.deepEqual(v, { n: 3 });
  });

  it("treats throws as not-yet and reports the last one on timeout", async () => {
    const err = await waitFor(
      () => {
        throw new Error("still booting");
      },
      { timeoutMs: 50, intervalMs: 5, message: "server up" },
    ).catch((e: unknown) => e);
    assert.ok(err instanceof WaitForTimeoutError);
    assert.match(err.message, /server up not met within 50 ms/);
    assert.match(err.message, /still booting/);
    assert.ok(err.cause instanceof Error);
    assert.ok(err.attempts > 1);
  });

  it("honours the deadline even when cond never settles", async () => {
    const t0 = Date.now();
    await assert.rejects(
      waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 50 }),
      WaitForTimeoutError,
    );
    assert.ok(Date.now() - t0 < 1_000);
  });
});
