import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SYNC_GIVE_UP_AFTER } from "@jetstep/gateway";
import { syncBackoffMs, syncStatusAfter } from "./runtime.ts";

describe("app sync backoff", () => {
  it("doubles the sync interval per failure, up to 6 intervals for -u URLs and 60 for added ones", () => {
    const given = [1, 2, 3, 4, 5].map((n) => syncBackoffMs(n, 5_000, true));
    assert.deepEqual(given, [5_000, 10_000, 20_000, 30_000, 30_000]);
    const added = [1, 2, 3, 6, 7, 8, 40].map((n) => syncBackoffMs(n, 5_000, false));
    assert.deepEqual(added, [5_000, 10_000, 20_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it("records failures and the next try; gives an added URL up, never a -u one", () => {
    const fail = { ok: false, error: "app answered 500" };
    assert.deepEqual(syncStatusAfter("http://a/api", fail, 3, false, 5_000, 1_000), {
      url: "http://a/api",
      ok: false,
      error: "app answered 500",
      at: 1_000,
      failures: 3,
      retryAt: 1_000 + 20_000,
    });
    const givenUp = syncStatusAfter("http://a/api", fail, SYNC_GIVE_UP_AFTER, false, 5_000, 1_000);
    assert.equal(givenUp.retryAt, undefined);
    assert.match(
      givenUp.error ?? "",
      new RegExp(`not retried after ${SYNC_GIVE_UP_AFTER} failures in a row`),
    );
    const flag = syncStatusAfter("http://a/api", fail, 50, true, 5_000, 1_000);
    assert.equal(flag.retryAt, 1_000 + 30_000);
    assert.deepEqual(syncStatusAfter("http://a/api", { ok: true }, 4, true, 5_000, 2_000), {
      url: "http://a/api",
      ok: true,
      at: 2_000,
    });
  });
});
