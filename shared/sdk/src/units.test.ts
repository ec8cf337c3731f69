import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { canonicalJson } from "./canonical-json.ts";
import { formatDuration, parseDuration, toTimeString } from "./duration.ts";
import { InvalidDurationError } from "./errors.ts";
import { parseMemoEntry } from "./memo.ts";
import { hashSigningKey } from "./signature.ts";
import { hashStepId, StepIdAllocator } from "./step-ids.ts";
import { RetryAfterError } from "./user-errors.ts";

describe("step ids", () => {
  test("hash is sha1 hex of the id (values from the official SDK)", () => {
    assert.equal(hashStepId("s1"), "640d87e741e6aa4c669a82a4cd304787960513ab");
    assert.equal(hashStepId("same:1"), "c1023fa587daa4753ff5868c7e4bdbd03defda7d");
  });
  test("repeats get :1, :2 … and skip suffixed ids already taken", () => {
    const ids = new StepIdAllocator();
    assert.deepEqual(ids.allocate("a"), { finalId: "a", hashedId: hashStepId("a") });
    assert.deepEqual(ids.allocate("a"), { finalId: "a:1", hashedId: hashStepId("a:1"), index: 1 });
    assert.equal(ids.allocate("b:1").finalId, "b:1");
    assert.equal(ids.allocate("b").finalId, "b");
    assert.equal(ids.allocate("b").finalId, "b:2");
    assert.equal(ids.allocate("a").finalId, "a:2");
  });
});

describe("durations", () => {
  const ok: [number | string, number][] = [
    [0, 0],
    [1500, 1500],
    ["1500", 1500],
    ["30s", 30_000],
    ["2h45m", 9_900_000],
    ["1.5h", 5_400_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["250ms", 250],
  ];
  for (const [input, ms] of ok)
    test(`parse ${JSON.stringify(input)}`, () => assert.equal(parseDuration(input), ms));
  for (const bad of ["", "soon", "1y", "5 m", "-1s", -1, Number.NaN]) {
    test(`reject ${JSON.stringify(bad)}`, () =>
      assert.throws(() => parseDuration(bad), InvalidDurationError));
  }
  test("format like the official SDK", () => {
    assert.equal(formatDuration(5_400_000), "1h30m");
    assert.equal(formatDuration(60_000), "1m");
    assert.equal(formatDuration(500), "1s");
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(691_200_000), "1w1d");
    assert.equal(toTimeString(new Date("2030-01-01T00:00:00Z")), "2030-01-01T00:00:00.000Z");
  });
});

describe("RetryAfterError", () => {
  test("ms and strings round up to seconds; Dates become ISO", () => {
    assert.equal(new RetryAfterError("x", 1500).retryAfter, "2");
    assert.equal(new RetryAfterError("x", "2m").retryAfter, "120");
    assert.equal(
      new RetryAfterError("x", new Date("2030-01-01T00:00:00Z")).retryAfter,
      "2030-01-01T00:00:00.000Z",
    );
    assert.throws(() => new RetryAfterError("x", "whenever"), InvalidDurationError);
  });
});

describe("memo entries", () => {
  test("{data}, {type:data,data}, {error} and raw values", () => {
    assert.deepEqual(parseMemoEntry({ data: 1 }), { kind: "data", data: 1 });
    assert.deepEqual(parseMemoEntry({ type: "data", data: null }), { kind: "data", data: null });
    assert.deepEqual(parseMemoEntry(null), { kind: "data", data: null });
    const event = { name: "e", data: { a: 1 }, ts: 1 };
    assert.deepEqual(parseMemoEntry(event), { kind: "data", data: event });
    assert.deepEqual(parseMemoEntry({ error: { name: "E", message: "m" } }), {
      kind: "error",
      error: { name: "E", message: "m", stack: "", __serialized: true },
    });
  });
});

describe("canonical JSON (RFC 8785)", () => {
  test("sorts keys recursively, no whitespace, drops undefined", () => {
    assert.equal(
      canonicalJson({ b: 1, a: [{ z: 1, y: "é\n" }, null], c: undefined }),
      '{"a":[{"y":"é\\n","z":1},null],"b":1}',
    );
    assert.equal(canonicalJson({ n: 1e21, m: 0.1, k: -0 }), '{"k":0,"m":0.1,"n":1e+21}');
  });
});

test("hashed signing key for the Authorization header", () => {
  // sha256 of the single byte 0x00, keeping the prefix
  assert.equal(
    hashSigningKey("signkey-test-00"),
    "signkey-test-6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  );
});
