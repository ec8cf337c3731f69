/**
 * A deterministic generator of malformed input for every gateway route and the NATS subjects it
 * serves (`jetstep.events…`, `jetstep.register`), interleaved with valid events that must be
 * stored and run. Each malformed case breaks at least one rule by construction (invalid JSON, too
 * deep, a bad field, over a size limit, an unknown id, a wrong key…); what it is answered is up to
 * the gateway, as long as it is not a 5xx, nor no answer at all. Same seed, same cases.
 */
import { MAX_EVENT_TS } from "@jetstep/core";

/** mulberry32: a small seeded PRNG, so a failing case can be generated again from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Body = string | Uint8Array;

export type Case =
  | {
      kind: "http";
      label: string;
      method: string;
      path: string;
      headers: Record<string, string>;
      body?: Body;
      /** Read the first bytes of the answer and hang up (a stream that never ends). */
      stream?: boolean;
    }
  /** A NATS request: must be answered, and not with a 5xx status. */
  | { kind: "nats-request"; label: string; subject: string; body: Body; headers?: Record<string, string> }
  /** A plain NATS publish of a rejected event: must end up in DEAD_LETTERS. */
  | { kind: "nats-publish"; label: string; subject: string; body: Body }
  /** A valid event (with its id), sent over `via`; it must be stored and run. */
  | {
      kind: "valid";
      label: string;
      via: "http" | "nats-request" | "nats-publish";
      event: ValidEvent;
      /** A trace context to send with it, valid or not (an invalid one is ignored). */
      traceparent?: string;
    };

export interface ValidEvent {
  id: string;
  name: string;
  data: Record<string, unknown>;
  ts?: number;
}

export interface CorpusTarget {
  /** Event keys the gateway accepts (empty: any). */
  eventKeys: string[];
  /** `Authorization` header that registers and checkpoints (undefined: none needed). */
  authorization: string | undefined;
  /** The one valid event name, which a registered function runs. */
  validEvent: string;
  /** That function's id, for invoke. */
  functionId: string;
  /** Prefix of valid ids, unique per corpus. */
  idPrefix: string;
  /** Run ids that exist (filled in as valid events run), for routes that take one. */
  knownRunIds: () => string[];
}

type Rng = () => number;

const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)] as T;
const chance = (r: Rng, p: number) => r() < p;

/** Arrays nested `depth` deep: `[[[…]]]`. */
const nested = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);
/** Objects nested `depth` deep: `{"a":{"a":…}}`. */
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

const JUNK_TEXT = [
  "",
  " ",
  "{",
  "}",
  "[",
  "{nope",
  "{'name':'x'}",
  '{"name":"x",}',
  '[{"name":"x"},]',
  "NaN",
  "undefined",
  "\uFEFF{}",
  '{"name":"x"}{"name":"y"}',
  '{"name":"\\x41"}',
  '{"name":"\\ud800"',
  "0x10",
  "--1",
  "\u0000",
  '"unterminated',
];

const BAD_IDS: unknown[] = [
  "a\nb",
  "a\r\nb",
  "tab\tid",
  "with space",
  "nul\u0000",
  "del\u007f",
  "é",
  "emoji-😀",
  "x".repeat(257),
  "",
  5,
  null,
  {},
];

const BAD_NAMES: unknown[] = [
  undefined,
  "",
  "   ",
  5,
  null,
  {},
  ["a"],
  "a".repeat(257),
  "a".repeat(5000),
  "/".repeat(1400),
  "日".repeat(120),
  "\u{1F600}".repeat(100),
];

const NOT_OBJECTS: unknown[] = [[], [1], "s", 5, true, null];

const BAD_TS: unknown[] = [-1, 1.5, "2024-01-01", 1e300, MAX_EVENT_TS + 1, null, true, {}];

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/octet-stream",
  "application/json; charset=latin1",
  "*/*",
  "",
];

/** One malformed event (or event list) as JSON text: always rejected. */
function badEvents(r: Rng): { label: string; text: string } {
  const ok = () => ({ name: "corpus/other", data: { k: int(r, 100) } });
  const inList = (bad: string) => {
    if (!chance(r, 0.5)) return bad;
    const list = Array.from({ length: 1 + int(r, 4) }, () => JSON.stringify(ok()));
    list.splice(int(r, list.length + 1), 0, bad);
    return `[${list.join(",")}]`;
  };
  const field = (key: string, value: unknown) => JSON.stringify({ ...ok(), [key]: value });
  switch (int(r, 12)) {
    case 0:
      return { label: "invalid JSON", text: pick(r, JUNK_TEXT) };
    case 1: {
      const depth = pick(r, [65, 66, 100, 1000, 4105, 10_000]);
      const where = pick(r, ["data", "user", "list"]);
      const text =
        where === "list"
          ? `[${JSON.stringify(ok())},${nested(depth)}]`
          : `{"name":"corpus/deep","${where}":{"a":${chance(r, 0.5) ? nested(depth) : nestedObject(depth)}}}`;
      return { label: `${depth} deep in ${where}`, text };
    }
    case 2:
      return { label: "bad id", text: inList(field("id", pick(r, BAD_IDS))) };
    case 3:
      return { label: "bad name", text: inList(field("name", pick(r, BAD_NAMES))) };
    case 4:
      return { label: "bad data", text: inList(field("data", pick(r, NOT_OBJECTS))) };
    case 5:
      return { label: "bad user", text: inList(field("user", pick(r, NOT_OBJECTS))) };
    case 6:
      return { label: "bad ts", text: inList(field("ts", pick(r, BAD_TS))) };
    case 7:
      return { label: "bad v", text: inList(field("v", pick(r, [5, {}, [], true]))) };
    case 8:
      return { label: "not an object", text: inList(JSON.stringify(pick(r, NOT_OBJECTS.slice(1)))) };
    case 9:
      return { label: "empty list", text: "[]" };
    case 10:
      return chance(r, 0.05)
        ? { label: "5001 events", text: JSON.stringify(Array.from({ length: 5001 }, ok)) }
        : { label: "unknown type", text: inList(field("name", pick(r, [1, false]))) };
    default:
      // Over 512 KiB: rare, as each is half a megabyte on the wire.
      return chance(r, 0.05)
        ? { label: "event over 512 KiB", text: field("data", { s: "x".repeat(530 * 1024) }) }
        : { label: "name of slashes", text: inList(field("name", "/".repeat(300 + int(r, 2000)))) };
  }
}

/** Printable ASCII without spaces: what an event id may be. */
const ID_CHARS = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join("");

function validEvent(r: Rng, t: CorpusTarget, n: number): ValidEvent {
  const tail = Array.from({ length: int(r, 40) }, () => pick(r, [...ID_CHARS])).join("");
  const id = chance(r, 0.05) ? `${t.idPrefix}${n}-`.padEnd(256, "~") : `${t.idPrefix}${n}-${tail}`;
  // Up to the depth limit: the event is level 1, data 2, so 62 more levels inside data.
  const depth = int(r, 63);
  const deep = JSON.parse(chance(r, 0.5) ? nested(depth, "0") : nestedObject(depth)) as unknown;
  const data = { n, deep, text: pick(r, ["", "é😀", "a\nb\u0000", "x".repeat(int(r, 5000))]) };
  return { id, name: t.validEvent, data, ...(chance(r, 0.2) ? { ts: int(r, MAX_EVENT_TS) } : {}) };
}

const TRACEPARENTS = [
  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "00-00000000000000000000000000000000-0000000000000000-01",
  "garbage",
  "",
  "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
];

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Bytes that are not valid UTF-8, around a JSON-looking body. */
const invalidUtf8 = (text: string): Uint8Array => new Uint8Array([0xff, 0xfe, ...utf8(text), 0xc3, 0x28]);

/** Path segments no id of ours has; percent-encoded where a URL needs it. */
const ODD_IDS = [
  "01NOPE",
  "a.b",
  "*",
  ">",
  "%0A",
  "%00",
  "%20x",
  "..",
  "%2e%2e",
  "%E0%A4%A",
  "%",
  "日本",
  "x".repeat(300),
  "y".repeat(800),
  "01HZZZZZZZZZZZZZZZZZZZZZZZ",
  "a%2Fb",
];

function badRegistration(r: Rng): { label: string; text: string } {
  const step = (url: unknown = "http://127.0.0.1:1/api?fnId=f&stepId=step") => ({
    step: { id: "step", name: "step", runtime: { type: "http", url } },
  });
  const fn = (extra: Record<string, unknown> = {}) => ({
    id: `corpus-reg-fn-${int(r, 5)}`,
    name: "f",
    triggers: [{ event: `corpus/never-${int(r, 5)}` }],
    steps: step(),
    ...extra,
  });
  const reg = (extra: Record<string, unknown>) =>
    JSON.stringify({
      url: "http://127.0.0.1:1/api",
      appName: `corpus-reg-${int(r, 4)}`,
      functions: [fn()],
      ...extra,
    });
  const bad: [string, () => string][] = [
    ["invalid JSON", () => pick(r, JUNK_TEXT)],
    ["deep", () => `{"url":"http://x/","appName":"a","functions":[${nested(pick(r, [70, 5000, 20_000]))}]}`],
    ["not an object", () => JSON.stringify(pick(r, NOT_OBJECTS))],
    [
      "appName",
      () =>
        reg({
          appName: pick(
            r,
            BAD_NAMES.filter((n) => n !== "   "),
          ),
        }),
    ],
    ["url", () => reg({ url: pick(r, [undefined, 5, "nope", `http://x/${"a".repeat(3000)}`, ""]) })],
    ["functions", () => reg({ functions: pick(r, [5, "x", {}, null, [null], [5]]) })],
    ["1001 functions", () => reg({ functions: Array.from({ length: 1001 }, (_, i) => fn({ id: `f${i}` })) })],
    [
      "function id",
      () => reg({ functions: [fn({ id: pick(r, ["", 5, "x".repeat(300), "日".repeat(200)]) })] }),
    ],
    ["duplicate ids", () => reg({ functions: [fn({ id: "dup" }), fn({ id: "dup" })] })],
    [
      "triggers",
      () => reg({ functions: [fn({ triggers: pick(r, [[], 5, [{}], [{ event: 5 }], [{ cron: "" }]]) })] }),
    ],
    ["trigger name", () => reg({ functions: [fn({ triggers: [{ event: pick(r, BAD_NAMES.slice(1)) }] })] })],
    [
      "cron",
      () =>
        reg({
          functions: [fn({ triggers: [{ cron: pick(r, ["61 * * * *", "x", "TZ=Mars/X 0 * * * *"]) }] })],
        }),
    ],
    [
      "expression",
      () =>
        reg({
          functions: [
            fn({ triggers: [{ event: "x", expression: pick(r, ["(", "event.data.(", "(".repeat(3000)]) }] }),
          ],
        }),
    ],
    [
      "steps",
      () => reg({ functions: [fn({ steps: pick(r, [{}, 5, step("nope"), step(5), { s: null }]) })] }),
    ],
    [
      "flow control",
      () =>
        reg({
          functions: [
            fn(
              pick(r, [
                { concurrency: pick(r, ["x", -1, { limit: "a" }, [1, 2, 3], { limit: 1, scope: "env" }]) },
                { throttle: pick(r, [{ limit: 0, period: "1s" }, { limit: 1, period: {} }, 5]) },
                { rateLimit: pick(r, [[], { limit: 1 }, { limit: 1, period: "x" }]) },
                { debounce: pick(r, [5, { period: "0s" }, { period: "1s", key: 5 }]) },
                { priority: pick(r, [{ run: 5 }, { run: "(" }, "x"]) },
                { singleton: pick(r, [{ mode: 1 }, { mode: "queue" }, []]) },
                {
                  batchEvents: pick(r, [
                    { maxSize: 0, timeout: "1s" },
                    { maxSize: 5 },
                    "x",
                    { maxSize: 5, timeout: "1s", key: 5 },
                  ]),
                },
                { idempotency: pick(r, [5, "(", {}]) },
                { timeouts: pick(r, [{ start: {} }, { finish: "soon" }, 5]) },
                {
                  cancel: pick(r, [
                    "x",
                    [{ event: 5 }],
                    [{ event: "x", if: "(" }],
                    [{ event: "x", timeout: [] }],
                  ]),
                },
                {
                  steps: {
                    step: { runtime: { url: "http://x/" }, retries: { attempts: pick(r, [99, -1, "x"]) } },
                  },
                },
              ]),
            ),
          ],
        }),
    ],
  ];
  const [label, make] = pick(r, bad);
  return { label, text: make() };
}

/** A body for the small JSON routes: junk, a wrong shape, or close to right with a bad field. */
function badApiBody(r: Rng, near: unknown[]): string {
  return chance(r, 0.3)
    ? pick(r, JUNK_TEXT)
    : chance(r, 0.2)
      ? nested(pick(r, [65, 5000]))
      : JSON.stringify(pick(r, near));
}

const QUERY_JUNK = [
  "-1",
  "0",
  "201",
  "abc",
  "1e3",
  "1e400",
  "",
  "%",
  "%zz",
  "2024-13-45",
  "Running,Bad",
  "Bad",
  "x".repeat(2000),
];

function query(r: Rng, keys: string[]): string {
  const n = 1 + int(r, 3);
  const parts = Array.from(
    { length: n },
    () => `${pick(r, keys)}=${encodeURIComponent(pick(r, QUERY_JUNK))}`,
  );
  if (chance(r, 0.2)) parts.push(`${pick(r, keys)}=1&${pick(r, keys)}=2`);
  return parts.join("&");
}

/** One malformed HTTP case, for any route. */
function badHttp(r: Rng, t: CorpusTarget): Case {
  const json = { "content-type": "application/json" };
  const auth: Record<string, string> =
    t.authorization !== undefined && chance(r, 0.8) ? { authorization: t.authorization } : {};
  const key =
    t.eventKeys.length > 0 && chance(r, 0.8) ? (t.eventKeys[0] as string) : pick(r, ["k", "wrong", "%20"]);
  const odd = () => pick(r, ODD_IDS);
  const known = t.knownRunIds();
  const runId = () => (known.length > 0 && chance(r, 0.3) ? pick(r, known) : odd());
  const http = (
    label: string,
    method: string,
    path: string,
    body?: Body,
    headers: Record<string, string> = json,
  ): Case => ({
    kind: "http",
    label,
    method,
    path,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  switch (int(r, 17)) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const e = badEvents(r);
      const type = pick(r, CONTENT_TYPES);
      const body = chance(r, 0.1) ? invalidUtf8(e.text) : e.text;
      return http(
        `POST /e: ${e.label} (${type || "no type"})`,
        "POST",
        `/e/${key}`,
        body,
        type ? { "content-type": type } : {},
      );
    }
    case 4:
    case 5: {
      const reg = badRegistration(r);
      return http(`POST /fn/register: ${reg.label}`, "POST", "/fn/register", reg.text, { ...json, ...auth });
    }
    case 6:
      return http(
        "POST /v1/apps",
        "POST",
        pick(r, ["/v1/apps", "/v1/apps/sync"]),
        badApiBody(r, [
          null,
          [],
          {},
          { url: 5 },
          { url: "nope" },
          { url: "ftp://127.0.0.1/x" },
          { url: `http://127.0.0.1:1/${"a".repeat(3000)}` },
          { url: `http://127.0.0.1:1/${"%/".repeat(300)}` },
          { url: "http://127.0.0.1:1/", extra: 1 },
        ]),
      );
    case 7:
      return http(
        "GET /v1/runs",
        "GET",
        `/v1/runs?${query(r, ["limit", "cursor", "status", "from", "to", "function_id", "event_name"])}`,
      );
    case 8:
      return pick(r, [
        http(
          "GET /v1/events",
          "GET",
          `/v1/events?${query(r, ["limit", "cursor", "name", "include_internal"])}`,
        ),
        http("GET /v1/operations", "GET", `/v1/operations?${query(r, ["limit", "cursor", "function_id"])}`),
        http(
          "GET /v1/functions/:id/activity",
          "GET",
          `/v1/functions/${encodeURIComponent(t.functionId)}/activity?${query(r, ["from", "to", "step"])}`,
        ),
      ]);
    case 9:
      return pick(r, [
        http("GET /v1/runs/:id", "GET", `/v1/runs/${odd()}`),
        http("DELETE /v1/runs/:id", "DELETE", `/v1/runs/${odd()}`),
        http("GET /v1/events/:id", "GET", `/v1/events/${odd()}`),
        http("GET /v1/events/:id/runs", "GET", `/v1/events/${odd()}/runs`),
      ]);
    case 10:
      return http(
        "POST /v1/runs/:id/rerun",
        "POST",
        `/v1/runs/${runId()}/rerun`,
        badApiBody(r, [
          null,
          [],
          5,
          { fromStep: 5 },
          { fromStep: "" },
          { output: 1 },
          { fromStep: "nope" },
          { fromStep: "seen", extra: true },
        ]),
      );
    case 11:
      return pick(r, [
        http(
          "POST /v1/cancellations",
          "POST",
          "/v1/cancellations",
          badApiBody(r, [
            null,
            [],
            {},
            { function_id: 5 },
            { function_id: "" },
            { function_id: "corpus-none", started_after: "yesterday" },
            { function_id: "corpus-none", if: "(".repeat(3000) },
            { function_id: "corpus-none", if: "event.data.(" },
            { function_id: "corpus-none", extra: 1 },
          ]),
        ),
        http(
          "POST /v1/replays",
          "POST",
          "/v1/replays",
          badApiBody(r, [
            null,
            [],
            {},
            { function_id: t.functionId },
            { function_id: t.functionId, from: 5, to: 1 },
            { function_id: t.functionId, from: "yesterday", to: 1 },
            { function_id: t.functionId, from: 0, to: 1, statuses: ["Running"] },
            { function_id: t.functionId, from: 0, to: 1, dry_run: "yes" },
            { function_id: "corpus-none", from: 0, to: 1 },
          ]),
        ),
        // Never a valid body (nor an empty one): the corpus's own function must not be paused.
        http(
          "POST /v1/functions/:id/pause",
          "POST",
          `/v1/functions/${encodeURIComponent(t.functionId)}/${pick(r, ["pause", "resume"])}`,
          JSON.stringify(
            pick(r, [null, [], 5, { reason: "" }, { reason: 5 }, { reason: "x".repeat(501) }, { extra: 1 }]),
          ),
        ),
      ]);
    case 12: {
      const fnId = chance(r, 0.7) ? t.functionId : odd();
      const big = chance(r, 0.05) ? [{ data: { s: "x".repeat(600 * 1024) } }] : [];
      return http(
        "POST /v1/functions/:id/invoke",
        "POST",
        `/v1/functions/${encodeURIComponent(fnId)}/invoke`,
        badApiBody(r, [null, [], 5, { data: 5 }, { data: [] }, { data: {}, extra: 1 }, ...big]),
      );
    }
    case 13: {
      const id = chance(r, 0.5) ? "01HZZZZZZZZZZZZZZZZZZZZZZZ" : odd();
      const qi = pick(r, ["", "x", "0-short", "99999-abcdefgh", "700-abcdefghij", "3-abcdefghij", 5]);
      const steps = pick(r, [[], 5, [{}], [{ op: "StepRun", id: 5 }], [{ op: "Nope", id: "a" }], null]);
      const runIdInBody = chance(r, 0.8) ? id : "other";
      return http(
        "POST /v1/checkpoint/:runId/async",
        "POST",
        `/v1/checkpoint/${id}/async`,
        badApiBody(r, [
          null,
          {},
          { run_id: runIdInBody, qi_id: qi, steps },
          { run_id: runIdInBody, fn_id: 5, qi_id: qi, steps },
        ]),
        { ...json, ...auth },
      );
    }
    case 14:
      return pick(r, [
        http("GET /", "GET", "/"),
        http(
          "GET /ui/*",
          "GET",
          `/ui/${pick(r, ["../../etc/passwd", "%2e%2e/%2e%2e/etc/passwd", "%00", "x/../../..", "nope.js", "%E0%A4%A"])}`,
        ),
        http("GET /v1/apps", "GET", "/v1/apps"),
        http("GET /v1/functions", "GET", "/v1/functions"),
        {
          kind: "http",
          label: "GET /v1/stream",
          method: "GET",
          path: "/v1/stream",
          headers: {},
          stream: true,
        },
      ]);
    case 15: {
      // Over the route's body limit (rarely: a megabyte each).
      const path = pick(r, [
        "/v1/cancellations",
        "/v1/apps",
        `/v1/runs/${odd()}/rerun`,
        `/v1/functions/${t.functionId}/invoke`,
      ]);
      return chance(r, 0.1)
        ? http("body over the limit", "POST", path, `{"x":"${"x".repeat(1024 * 1024)}"}`)
        : http("no such route", "POST", `${path}/x`, "{}");
    }
    default:
      return http(
        "no such route",
        pick(r, ["PUT", "PATCH", "DELETE", "POST", "GET", "OPTIONS"]),
        pick(r, ["/e", "/e/", "/fn/register/x", "/v1/runs/x/y/z", "/v1", "/%", `/${"x".repeat(5000)}`]),
        pick(r, ["x", undefined]),
      );
  }
}

/** The corpus: `count` cases, about one in eight a valid event. */
export function* corpus(seed: number, count: number, t: CorpusTarget): Generator<Case> {
  const r = seededRandom(seed);
  let valid = 0;
  for (let i = 0; i < count; i++) {
    const roll = r();
    if (roll < 0.125) {
      const via = pick(r, ["http", "nats-request", "nats-publish"] as const);
      const traceparent = chance(r, 0.2) ? pick(r, TRACEPARENTS) : undefined;
      yield {
        kind: "valid",
        label: `valid event over ${via}`,
        via,
        event: validEvent(r, t, valid++),
        ...(traceparent === undefined ? {} : { traceparent }),
      };
    } else if (roll < 0.3) {
      const e = badEvents(r);
      const subject = chance(r, 0.5) ? "jetstep.events" : `jetstep.events.${pick(r, ["a", "b.c", "x-y"])}`;
      const body = chance(r, 0.05) ? invalidUtf8(e.text) : e.text;
      yield chance(r, 0.5)
        ? { kind: "nats-request", label: `NATS request: ${e.label}`, subject, body }
        : { kind: "nats-publish", label: `NATS publish: ${e.label}`, subject, body };
    } else if (roll < 0.35) {
      const reg = badRegistration(r);
      const auth: Record<string, string> =
        t.authorization !== undefined && chance(r, 0.8) ? { authorization: t.authorization } : {};
      yield {
        kind: "nats-request",
        label: `NATS register: ${reg.label}`,
        subject: "jetstep.register",
        body: reg.text,
        headers: auth,
      };
    } else {
      yield badHttp(r, t);
    }
  }
}
