import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RecordingLog } from "./test-support.ts";

describe("MatcherLog", () => {
  it("says a keyed warning once, and again only after its key was pushed out", () => {
    const log = new RecordingLog(2);
    log.once("a", { fnId: "f" }, "first");
    log.once("a", { fnId: "f" }, "first again");
    log.once("b", {}, "second");
    assert.deepEqual(
      log.warnings.map((w) => w.message),
      ["first", "second"],
    );
    log.once("c", {}, "third"); // over 2 keys: "a" is forgotten
    log.once("a", {}, "first, once more");
    log.once("c", {}, "third again");
    assert.deepEqual(
      log.warnings.map((w) => w.message),
      ["first", "second", "third", "first, once more"],
    );
  });
});
