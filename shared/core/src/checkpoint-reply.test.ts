import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { lateCheckpointReply } from "./schemas/checkpoint.ts";

describe("lateCheckpointReply", () => {
  it("turns a 200 that came back at or past its validForMs into a 409 saying the step is recorded", () => {
    assert.deepEqual(lateCheckpointReply({ status: 200, validForMs: 500 }, 499.9), {
      status: 200,
      validForMs: 500,
    });
    const late = lateCheckpointReply({ status: 200, validForMs: 500 }, 500);
    assert.equal(late.status, 409);
    assert.equal(
      late.message,
      "the checkpoint's reply came 500 ms after it was sent, past the 500 ms the executor's lease was valid for; the step is recorded",
    );
  });

  it("leaves refusals, and a 200 that says nothing of its lease (an older executor), as they are", () => {
    for (const reply of [
      { status: 409 as const, message: "stale dispatch" },
      { status: 503 as const, message: "not now" },
      { status: 200 as const },
    ])
      assert.deepEqual(lateCheckpointReply(reply, 60_000), reply);
  });
});
