import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { findJsonTooDeep, MAX_EVENT_ID_LENGTH, MAX_NAME_LENGTH, MAX_SUBJECT_BYTES } from "./limits.ts";
import { Keys, Subjects } from "./names.ts";
import { IncomingEventSchema } from "./schemas/event.ts";
import { formatIssues, RegisterRequestSchema } from "./schemas/function-config.ts";

const arrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);

describe("findJsonTooDeep", () => {
  it("measures depth without recursion, counted within each element of a top-level array", () => {
    const table: [string, number, ReturnType<typeof findJsonTooDeep>][] = [
      [arrays(3), 3, null],
      [arrays(4), 3, null], // a top-level array is not a level: its element nests 3 deep
      [arrays(5), 3, { element: 0 }],
      [`{"a":${arrays(2)}}`, 3, null],
      [`{"a":${arrays(3)}}`, 3, { element: undefined }],
      [`[{"a":1},{"b":{"c":{"d":1}}}]`, 2, { element: 1 }],
      [`[{"a":1},{"b":{"c":1}}]`, 2, null],
      [`{"s":"[[[[[[[[{{{{{{"}`, 1, null], // brackets in strings do not count
      [`{"s":"\\"[[[[","t":1}`, 1, null], // nor after an escaped quote
      [`["a,b",[[1]],["x"]]`, 1, { element: 1 }], // commas in strings do not move to the next element
      [arrays(1_000_000), 64, { element: 0 }],
      ["not json {{{", 1, { element: undefined }], // measured whatever else is wrong with the text
      ["", 64, null],
    ];
    for (const [text, max, expected] of table)
      assert.deepEqual(findJsonTooDeep(text, max), expected, text.slice(0, 40));
  });

  it("lets through only what JSON.parse then nests at most that deep", () => {
    const depthOf = (v: unknown): number =>
      typeof v === "object" && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    for (const depth of [1, 10, 64, 65]) {
      const text = `{"a":${"[".repeat(depth - 1)}1${"]".repeat(depth - 1)}}`;
      assert.equal(findJsonTooDeep(text, 64) === null, depthOf(JSON.parse(text)) <= 64, `depth ${depth}`);
    }
  });
});

describe("event limits", () => {
  const problem = (event: unknown) => {
    const r = IncomingEventSchema.safeParse(event);
    return r.success ? null : formatIssues(r.error, "event");
  };

  it("takes ids of 1–256 printable ASCII characters without spaces", () => {
    for (const id of ["01HZX", "user:42/signup#1", "!~", "a".repeat(MAX_EVENT_ID_LENGTH)])
      assert.equal(problem({ name: "n", id }), null, id);
    const table: [unknown, RegExp][] = [
      ["a\nb", /^event\.id: must be printable ASCII without spaces or control characters$/],
      ["a\rb", /printable ASCII/],
      ["a b", /printable ASCII/],
      ["\u007f", /printable ASCII/],
      ["é", /printable ASCII/],
      ["a".repeat(MAX_EVENT_ID_LENGTH + 1), /^event\.id: must be at most 256 characters$/],
      ["", /^event\.id: must be a non-empty string$/],
    ];
    for (const [id, re] of table) assert.match(problem({ name: "n", id }) ?? "", re, JSON.stringify(id));
  });

  it("takes names of at most 256 characters whose subject fits, once trimmed", () => {
    assert.equal(problem({ name: "/".repeat(MAX_NAME_LENGTH) }), null, "768 escaped bytes fit");
    assert.equal(problem({ name: ` ${"a".repeat(MAX_NAME_LENGTH)} ` }), null);
    assert.match(
      problem({ name: "a".repeat(MAX_NAME_LENGTH + 1) }) ?? "",
      /^event\.name: must be at most 256/,
    );
    const wide = "日".repeat(114); // 9 escaped bytes each: 4 + 1026 bytes
    assert.equal(Subjects.event(wide).length, 1030);
    assert.match(
      problem({ name: wide }) ?? "",
      /^event\.name: becomes a 1030-byte subject or key once escaped/,
    );
    assert.equal(problem({ name: "日".repeat(113) }), null);
  });

  it("keeps every key an accepted id or name becomes under the subject limit", () => {
    assert.ok(Keys.eventRuns("%".repeat(MAX_EVENT_ID_LENGTH)).length <= MAX_SUBJECT_BYTES);
    assert.ok(
      Keys.wait("/".repeat(MAX_NAME_LENGTH), "01HZX", "w".repeat(64)).length <= MAX_SUBJECT_BYTES + 100,
    );
  });

  it("takes ts from 0 to 9999-12-31", () => {
    assert.equal(problem({ name: "n", ts: 253_402_300_799_999 }), null);
    assert.match(problem({ name: "n", ts: 253_402_300_800_000 }) ?? "", /^event\.ts: must be at most/);
    assert.match(problem({ name: "n", ts: -1 }) ?? "", /^event\.ts: must be 0 or more/);
  });
});

describe("registration limits", () => {
  const problem = (extra: Record<string, unknown>, fn: Record<string, unknown> = {}) => {
    const r = RegisterRequestSchema.safeParse({
      url: "http://127.0.0.1:3000/api",
      appName: "app",
      functions: [
        { id: "f", triggers: [{ event: "e" }], steps: { s: { runtime: { url: "http://x/" } } }, ...fn },
      ],
      ...extra,
    });
    return r.success ? null : formatIssues(r.error);
  };

  it("limits app and function ids, trigger names, URLs and the function count, naming the field", () => {
    assert.equal(problem({}), null);
    const table: [string | null, RegExp][] = [
      [problem({ appName: "a".repeat(257) }), /^appName: must be at most 256 characters$/],
      [problem({ appName: "日".repeat(113) }), /^appName: becomes a \d+-byte subject/],
      [problem({}, { id: "f".repeat(257) }), /^functions\.0\.id: must be at most 256 characters$/],
      [problem({}, { id: "日".repeat(112) }), /^functions\.0\.id: becomes a \d+-byte subject/],
      [
        problem({}, { triggers: [{ event: "日".repeat(114) }] }),
        /^functions\.0\.triggers\.0\.event: becomes a/,
      ],
      [
        problem({}, { cancel: [{ event: "" }] }),
        /^functions\.0\.cancel\.0\.event: must be a non-empty string$/,
      ],
      [problem({ url: `http://x/${"u".repeat(2048)}` }), /^url: must be at most 2048 characters$/],
      [
        problem({ functions: Array.from({ length: 1001 }, () => ({})) }),
        /^functions: at most 1000 functions per app$/,
      ],
      [
        problem({}, { triggers: [{ nope: 1 }] }),
        /^functions\.0\.triggers\.0: must be \{event, expression\?\} or \{cron, jitter\?\}$/,
      ],
    ];
    for (const [message, re] of table) assert.match(message ?? "", re);
  });
});
