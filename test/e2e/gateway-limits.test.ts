/**
 * The gateway's limits (core limits.ts): each rule refused with a 4xx naming the field and the
 * rule, before anything is stored; valid events sent around the refused ones all stored and run;
 * keys checked and over-limit bodies refused before a body is read; slow clients timed out.
 */
import assert from "node:assert/strict";
import { Agent, get } from "node:http";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import { MAX_EVENT_BYTES, MAX_JSON_DEPTH, MaxBodyBytes, Streams, Subjects } from "@jetstep/core";
import { buildGateway, defaultGatewayConfig } from "@jetstep/gateway";
import { openBuckets } from "@jetstep/jetstream";
import { silentLogger } from "@jetstep/telemetry";
import { waitFor } from "../support/index.ts";
import {
  type RecordingWorker,
  type Stack,
  signingBearer,
  startRecordingWorker,
  startStack,
  waitForEventRuns,
} from "./harness.ts";

const VALID = "limits/valid";

interface Answer {
  status: number;
  body: { status?: number; error?: string; ids?: string[]; data?: unknown };
}

async function call(url: string, method: string, path: string, body?: string, headers = {}): Promise<Answer> {
  const res = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined ? {} : { body }),
    headers: { "content-type": "application/json", ...headers },
  });
  return { status: res.status, body: (await res.json()) as Answer["body"] };
}

/** Arrays nested `depth` deep around `inner`. */
const nested = (depth: number, inner = "0") => "[".repeat(depth) + inner + "]".repeat(depth);

/**
 * Sends `head` and the start of a body on a raw connection and resolves with the answer's status
 * line and body as soon as they arrive, whatever is left unsent.
 */
function rawExchange(
  url: string,
  head: string,
  bodyStart: string,
): Promise<{ status: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(`${head}\r\n\r\n${bodyStart}`));
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk;
      const end = received.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(received)?.[1];
      if (end < 0 || length === undefined || received.length < end + 4 + Number(length)) return;
      socket.destroy();
      resolve({ status: received.slice(0, received.indexOf("\r\n")), body: received.slice(end + 4) });
    });
    socket.on("error", reject);
  });
}

describe("gateway limits", () => {
  let stack: Stack;
  let app: RecordingWorker;
  /** Status changes of the runtime's NATS connection (a refused subject closes it). */
  const connection: string[] = [];
  let n = 0;
  /** A valid event with a unique id; `extra` may add fields. */
  const valid = (extra: Record<string, unknown> = {}) => ({
    id: `limits-${n++}`,
    name: VALID,
    data: {},
    ...extra,
  });
  const post = (path: string, body: string, headers = {}) => call(stack.url, "POST", path, body, headers);
  /** Events stored under VALID's subject (runs add events of their own to the stream). */
  const storedEvents = async () => {
    const subject = Subjects.event(VALID);
    const info = await stack.runtime.nats.jsm.streams.info(Streams.events, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  };
  /** Every event id was stored and its run completed. */
  const assertRan = async (ids: string[]) => {
    for (const id of ids) {
      const [run] = await waitForEventRuns(stack.url, encodeURIComponent(id), 1, 30_000);
      assert.equal(run?.status, "Completed", `run of ${id}: ${JSON.stringify(run)}`);
    }
  };

  before(async () => {
    stack = await startStack();
    void (async () => {
      for await (const s of stack.runtime.nats.nc.status()) connection.push(s.type);
    })();
    app = await startRecordingWorker(stack, { appId: "limits", event: VALID });
  });
  after(async () => {
    await app?.close();
    await stack?.stop();
  });

  it("refuses an event id that is not 1–256 printable ASCII characters, naming events[i].id", async () => {
    const before = await storedEvents();
    const bad: [unknown, RegExp][] = [
      ["a\nb", /events\[1\]\.id: must be printable ASCII without spaces or control characters/],
      ["with space", /events\[1\]\.id: must be printable ASCII/],
      ["nul\u0000", /events\[1\]\.id: must be printable ASCII/],
      ["é", /events\[1\]\.id: must be printable ASCII/],
      ["x".repeat(257), /events\[1\]\.id: must be at most 256 characters/],
      ["", /events\[1\]\.id: must be a non-empty string/],
      [5, /events\[1\]\.id: must be a string/],
    ];
    const sent: string[] = [];
    for (const [i, [id, re]] of bad.entries()) {
      const r = await post("/e/k", JSON.stringify([valid(), valid({ id })]));
      assert.equal(r.status, 400, JSON.stringify(id));
      assert.match(r.body.error ?? "", re);
      // Punctuation is fine in an id, `/`, `%`, `?` and `#` included.
      const ok = valid({ id: `limits-punct-${i}:~!#$%&'()*+,-./;<=>?@[]^_\`{|}` });
      assert.equal((await post("/e/k", JSON.stringify(ok))).status, 200);
      sent.push(ok.id);
    }
    const longest = valid({ id: "z".repeat(256) });
    assert.deepEqual((await post("/e/k", JSON.stringify(longest))).body.ids, [longest.id]);
    sent.push(longest.id);
    assert.equal(await storedEvents(), before + sent.length, "only the valid events are stored");
    await assertRan(sent);
  });

  it(`refuses JSON nested deeper than ${MAX_JSON_DEPTH} levels before parsing it, and runs an event at the limit`, async () => {
    const before = await storedEvents();
    for (const depth of [10_000, 4105, MAX_JSON_DEPTH - 1]) {
      const r = await post(
        "/e/k",
        `[${JSON.stringify(valid())},{"name":"${VALID}","data":{"a":${nested(depth)}}}]`,
      );
      assert.equal(r.status, 400, `depth ${depth}`);
      assert.match(r.body.error ?? "", /^events\[1\]: nests deeper than 64 levels of objects and arrays/);
    }
    const deepUser = await post("/e/k", `{"name":"x","user":${nested(MAX_JSON_DEPTH)}}`);
    assert.match(deepUser.body.error ?? "", /^event: nests deeper than 64 levels/);
    // The event is level 1 and its data level 2: 62 more levels fit inside data.
    const atLimit = valid({ data: { a: JSON.parse(nested(MAX_JSON_DEPTH - 3)) } });
    const ok = await post("/e/k", JSON.stringify([atLimit]));
    assert.equal(ok.status, 200, ok.body.error);
    assert.equal(await storedEvents(), before + 1);
    await assertRan([atLimit.id]);
    const deepRegistration = await post("/fn/register", `{"appName":"deep","functions":${nested(5000)}}`);
    assert.equal(deepRegistration.status, 400);
    assert.match(deepRegistration.body.error ?? "", /^body: nests deeper than 64 levels/);
  });

  it("refuses an event name over 256 characters or whose subject would exceed 1,024 bytes, and keeps the NATS connection", async () => {
    const before = await storedEvents();
    const bad: [string, RegExp][] = [
      ["a".repeat(5000), /^event\.name: must be at most 256 characters$/],
      ["/".repeat(1400), /^event\.name: must be at most 256 characters$/],
      ["日".repeat(120), /^event\.name: becomes a 1084-byte subject or key once escaped; at most 1024/],
    ];
    for (const [name, re] of bad) {
      const started = Date.now();
      const r = await post("/e/k", JSON.stringify({ name }));
      assert.equal(r.status, 400);
      assert.match(r.body.error ?? "", re);
      assert.ok(Date.now() - started < 5000, "answered without waiting on NATS");
    }
    const longest = valid({ data: { note: "/".repeat(256) } });
    const slashes = { name: "/".repeat(256) };
    const r = await post("/e/k", JSON.stringify([longest, slashes]));
    assert.equal(r.status, 200, "256 escaped characters fit (772 bytes)");
    assert.equal(await storedEvents(), before + 1);
    await assertRan([longest.id]);
    assert.deepEqual(
      connection.filter((t) => t === "disconnect"),
      [],
    );
  });

  it("refuses a ts that is not an integer from 0 to 9999-12-31", async () => {
    for (const ts of [-1, 1.5, "now", 253_402_300_800_000]) {
      const r = await post("/e/k", JSON.stringify({ name: VALID, ts }));
      assert.equal(r.status, 400, String(ts));
      assert.match(r.body.error ?? "", /^event\.ts: must be/);
    }
  });

  it("limits registrations: functions per app, stored size, id and URL lengths, subjects", async () => {
    const fn = (id: string, extra: Record<string, unknown> = {}) => ({
      id,
      triggers: [{ event: "limits/never" }],
      steps: { step: { id: "step", name: "step", runtime: { url: `http://127.0.0.1:1/api?fnId=${id}` } } },
      ...extra,
    });
    const reg = (functions: unknown[], extra: Record<string, unknown> = {}) =>
      JSON.stringify({ url: "http://127.0.0.1:1/api", appName: "limits-reg", functions, ...extra });
    assert.equal((await post("/fn/register", reg([fn("kept")]))).status, 200);
    const bad: [string, number, RegExp][] = [
      [
        reg(Array.from({ length: 20_000 }, (_, i) => fn(`f${i}`))),
        400,
        /^functions: at most 1000 functions per app$/,
      ],
      [
        reg(Array.from({ length: 1001 }, (_, i) => fn(`f${i}`))),
        400,
        /^functions: at most 1000 functions per app$/,
      ],
      [
        reg(Array.from({ length: 600 }, (_, i) => fn(`f${i}`, { name: "n".repeat(2000) }))),
        413,
        /^registration: \d+ bytes as stored; at most \d+ \(it is one KV value/,
      ],
      [reg([fn("f")], { appName: "a".repeat(5000) }), 400, /^appName: must be at most 256 characters$/],
      [reg([fn("f")], { appName: "日".repeat(120) }), 400, /^appName: becomes a \d+-byte subject or key/],
      [reg([fn("x".repeat(257))]), 400, /^functions\.0\.id: must be at most 256 characters$/],
      [reg([fn("日".repeat(120))]), 400, /^functions\.0\.id: becomes a \d+-byte subject or key/],
      [
        reg([fn("f", { triggers: [{ event: "e".repeat(300) }] })]),
        400,
        /^functions\.0\.triggers\.0\.event: must be at most 256/,
      ],
      [
        reg([fn("f", { cancel: [{ event: "日".repeat(120) }] })]),
        400,
        /^functions\.0\.cancel\.0\.event: becomes a/,
      ],
      [
        reg([fn("f")], { url: `http://x/${"u".repeat(2048)}` }),
        400,
        /^url: must be at most 2048 characters$/,
      ],
      [
        reg([fn("f", { throttle: { limit: 1, period: {} } })]),
        400,
        /^functions\.0\.throttle\.period: invalid duration/,
      ],
      [
        reg([fn("f", { triggers: [{}] })]),
        400,
        /^functions\.0\.triggers\.0: must be \{event, expression\?\} or \{cron, jitter\?\}$/,
      ],
    ];
    for (const [body, status, re] of bad) {
      const started = Date.now();
      const r = await post("/fn/register", body);
      assert.equal(r.status, status, r.body.error);
      assert.match(r.body.error ?? "", re);
      assert.ok(Date.now() - started < 5000, "answered without waiting on NATS");
    }
    const fns = (await call(stack.url, "GET", "/v1/functions")).body.data as { id: string }[];
    assert.ok(
      fns.some((f) => f.id === "kept"),
      "the previous registration stays",
    );
    assert.deepEqual(
      connection.filter((t) => t === "disconnect"),
      [],
    );
  });

  it("answers malformed requests on every route with a 4xx naming the field", async () => {
    const cases: [string, string, string | undefined, number, RegExp][] = [
      ["POST", "/e/k", "[]", 400, /^no events: the body is an empty array$/],
      ["POST", "/e/k", "", 400, /^invalid JSON/],
      ["POST", "/e/k", "null", 400, /^event: must be an object$/],
      [
        "POST",
        "/e/k",
        JSON.stringify(Array.from({ length: 5001 }, () => ({ name: "n" }))),
        400,
        /^too many events/,
      ],
      ["POST", "/v1/apps", '{"url":"ftp://127.0.0.1/"}', 400, /^url: must be an http\(s\) URL$/],
      [
        "POST",
        "/v1/apps",
        JSON.stringify({ url: `http://127.0.0.1:1/${"%/".repeat(200)}` }),
        400,
        /^url: becomes a \d+-byte subject or key/,
      ],
      ["POST", "/v1/apps/sync", "[1]", 400, /^\(body\): /],
      [
        "POST",
        "/v1/cancellations",
        `{"function_id":"f","if":"${"(".repeat(3000)}"}`,
        400,
        /^if: invalid expression/,
      ],
      ["POST", "/v1/cancellations", nested(100), 400, /^body\[0\]: nests deeper than 64 levels/],
      ["POST", "/v1/runs/01NOPE/rerun", "5", 400, /^\(body\): /],
      ["POST", "/v1/functions/limits-record/invoke", '{"data":[]}', 400, /^data: /],
      ["POST", "/v1/functions/limits-record/pause", '{"reason":""}', 400, /^reason: must not be empty$/],
      [
        "POST",
        "/v1/replays",
        '{"function_id":"limits-record","from":5,"to":1}',
        400,
        /^from: must be before to$/,
      ],
      ["GET", "/v1/operations?limit=abc", undefined, 400, /^limit: /],
      [
        "GET",
        "/v1/functions/limits-record/activity?step=90s",
        undefined,
        400,
        /^step: must be a whole number of minutes$/,
      ],
      [
        "POST",
        "/v1/checkpoint/01NOPE/async",
        '{"run_id":"01NOPE","qi_id":"700-abcdefghij","steps":[]}',
        400,
        /^qi_id: names partition 700; there are 16$/,
      ],
      ["POST", "/v1/checkpoint/01NOPE/async", '{"run_id":"01NOPE","qi_id":"x","steps":[]}', 400, /qi_id/],
      ["POST", "/v1/checkpoint", '{"run_id":"01NOPE","steps":[]}', 400, /^event: /],
      [
        "POST",
        "/v1/checkpoint",
        '{"run_id":"01NOPE","steps":[],"event":{"name":"inngest/http.request","data":{"domain":"ftp://x","method":"GET","path":"/"}}}',
        400,
        /^event\.data\.domain: must be an http\(s\) URL$/,
      ],
      [
        "POST",
        "/v1/checkpoint",
        '{"run_id":"01NOPE","steps":[],"event":{"name":"inngest/http.request","data":{"domain":"http://x","method":"BREW","path":"/"}}}',
        400,
        /^event\.data\.method: /,
      ],
      [
        "POST",
        "/v1/checkpoint/01NOPE/steps",
        '{"run_id":"01OTHER","fn_id":"f","app_id":"a","steps":[]}',
        400,
        /^run_id: /,
      ],
      ["POST", "/v1/checkpoint/01NOPE/steps", '{"run_id":"01NOPE","steps":[]}', 400, /^fn_id: /],
      ["GET", "/v1/runs?limit=abc", undefined, 400, /^limit: /],
      ["GET", "/v1/runs?status=Running&status=Failed", undefined, 400, /^status: /],
      ["GET", "/v1/events?cursor=-1", undefined, 400, /^cursor: /],
      ["GET", "/v1/runs/%E0%A4%A", undefined, 400, /^path: not a valid percent-encoded URL path$/],
      [
        "GET",
        `/v1/events/${"x".repeat(800)}`,
        undefined,
        414,
        /^path: a parameter is longer than 768 characters$/,
      ],
      ["GET", `/v1/events/${"x".repeat(300)}/runs`, undefined, 404, /not found/],
      ["GET", "/v1/events/a%0Ab", undefined, 404, /not found/],
      ["DELETE", "/v1/runs/a.b", undefined, 404, /not found/],
    ];
    for (const [method, path, body, status, re] of cases) {
      const r = await call(stack.url, method, path, body);
      assert.equal(r.status, status, `${method} ${path.slice(0, 60)}: ${r.body.error}`);
      assert.match(r.body.error ?? "", re, `${method} ${path.slice(0, 60)}`);
    }
  });

  it("refuses a body over its route's limit with 413 naming the limit", async () => {
    const big = `{"function_id":"${"x".repeat(MaxBodyBytes.api)}"}`;
    const r = await post("/v1/cancellations", big);
    assert.equal(r.status, 413);
    assert.equal(
      r.body.error,
      `body: larger than ${MaxBodyBytes.api} bytes, the limit of POST /v1/cancellations`,
    );
    const event = await post(
      "/e/k",
      JSON.stringify({ name: "big", data: { s: "x".repeat(MAX_EVENT_BYTES) } }),
    );
    assert.equal(event.status, 413);
    assert.match(event.body.error ?? "", /^event is \d+ bytes; at most 524288 per event$/);
  });

  it("invoke and rerun refuse what cannot fit one NATS message, naming the field", async () => {
    const invoke = await post(
      `/v1/functions/${app.functionId}/invoke`,
      JSON.stringify({ data: { s: "x".repeat(600 * 1024) } }),
    );
    assert.equal(invoke.status, 413);
    assert.match(invoke.body.error ?? "", /^data: the invoke event is \d+ bytes; at most 524288 per event$/);
    const event = valid();
    await post("/e/k", JSON.stringify(event));
    const [run] = await waitForEventRuns(stack.url, event.id, 1, 30_000);
    // Under the body limit, over one NATS message once the event goes with it.
    const rerun = await post(
      `/v1/runs/${run?.run_id}/rerun`,
      JSON.stringify({ fromStep: "seen", output: "x".repeat(1_046_000) }),
    );
    assert.equal(rerun.status, 413, rerun.body.error);
    assert.match(
      rerun.body.error ?? "",
      /^output: the rerun's start command .* would be \d+ bytes; at most \d+/,
    );
  });
});

describe("gateway limits as jetstep start runs it (event key, signing key)", () => {
  const signingKey = "signkey-test-00112233";
  let stack: Stack;
  const head = (path: string, length: number | "chunked", extra = "") =>
    [
      `POST ${path} HTTP/1.1`,
      "Host: x",
      "Content-Type: application/json",
      length === "chunked" ? "Transfer-Encoding: chunked" : `Content-Length: ${length}`,
      ...(extra ? [extra] : []),
    ].join("\r\n");

  before(async () => {
    stack = await startStack({ eventKeys: ["right"], signingKey });
  });
  after(async () => {
    await stack?.stop();
  });

  it("checks the event key and the signing key before reading the body", async () => {
    // 60 MB announced, a few bytes sent: the answer comes without the rest.
    const wrongKey = await rawExchange(stack.url, head("/e/wrong", 60_000_000), '[{"name":');
    assert.match(wrongKey.status, / 401 /);
    assert.equal(JSON.parse(wrongKey.body).error, "key: unknown event key");
    for (const path of ["/fn/register", "/v1/checkpoint/01NOPE/async"]) {
      const unsigned = await rawExchange(stack.url, head(path, 3_000_000, "Authorization: Bearer nope"), "{");
      assert.match(unsigned.status, / 401 /, path);
      assert.match(JSON.parse(unsigned.body).error, /^authorization: /);
    }
    const signed = await call(stack.url, "POST", "/fn/register", "{", {
      authorization: signingBearer(signingKey),
    });
    assert.equal(signed.status, 400, "the right key gets as far as the body");
  });

  it("refuses a body over the limit as soon as it is known: at once by Content-Length, chunked once past it", async () => {
    const announced = await rawExchange(stack.url, head("/e/right", MaxBodyBytes.events + 1), "[");
    assert.match(announced.status, / 413 /);
    assert.equal(
      JSON.parse(announced.body).error,
      `body: larger than ${MaxBodyBytes.events} bytes, the limit of POST /e/:key`,
    );
    const chunk = 1024 * 1024;
    const chunks = `${chunk.toString(16)}\r\n${"a".repeat(chunk)}\r\n`.repeat(
      MaxBodyBytes.events / chunk + 1,
    );
    const chunked = await rawExchange(stack.url, head("/e/right", "chunked"), chunks);
    assert.match(chunked.status, / 413 /);
    const ok = await call(stack.url, "POST", "/e/right", JSON.stringify({ name: "limits/ok" }));
    assert.equal(ok.status, 200);
  });
});

describe("gateway time limits", () => {
  let stack: Stack;
  let gateway: Awaited<ReturnType<typeof buildGateway>>;
  let url: string;
  const requestTimeoutMs = 1500;

  before(async () => {
    stack = await startStack();
    // A second gateway on the same NATS, with short time limits (the defaults are 30 s and 10 s).
    gateway = await buildGateway({
      nats: stack.runtime.nats,
      buckets: await openBuckets(stack.runtime.nats, { replicas: 1 }),
      log: silentLogger(),
      config: { ...defaultGatewayConfig(), requestTimeoutMs, headersTimeoutMs: 1000 },
    });
    url = await gateway.listen({ host: "127.0.0.1", port: 0 });
  });
  after(async () => {
    await gateway?.close();
    await stack?.stop();
  });

  it("answers 408 and closes connections that send too slowly, while keep-alive and the event stream go on", async () => {
    const { hostname, port } = new URL(url);
    const stream = await fetch(`${url}/v1/stream`);
    const events = stream.body?.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const keptAlive = () =>
      new Promise<{ status: number | undefined; reused: boolean }>((resolve, reject) => {
        const req = get(`${url}/v1/functions`, { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
        });
        req.on("error", reject);
      });
    assert.deepEqual(await keptAlive(), { status: 200, reused: false });
    const opened = Date.now();
    const slow = ["silent", "headers", "body"].map(
      (kind) =>
        new Promise<{ kind: string; answer: string; ms: number }>((resolve) => {
          const socket = connect(Number(port), hostname, () => {
            if (kind === "headers") socket.write("POST /e/k HTTP/1.1\r\nHost: x\r\n");
            if (kind === "body")
              socket.write("POST /e/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[{");
          });
          let answer = "";
          socket.on("data", (d) => {
            answer += d;
          });
          socket.on("close", () =>
            resolve({ kind, answer: answer.split("\r\n")[0] ?? "", ms: Date.now() - opened }),
          );
        }),
    );
    for (const closed of await Promise.all(slow)) {
      assert.equal(closed.answer, "HTTP/1.1 408 Request Timeout", closed.kind);
      assert.ok(
        closed.ms >= 900 && closed.ms < requestTimeoutMs + 3000,
        `${closed.kind} closed after ${closed.ms} ms`,
      );
    }
    // Longer than the time limit has passed: the idle keep-alive connection and the stream still work.
    assert.deepEqual(await keptAlive(), { status: 200, reused: true });
    agent.destroy();
    const sent = await call(url, "POST", "/e/k", JSON.stringify({ name: "limits/streamed" }));
    const id = sent.body.ids?.[0] as string;
    let seen = "";
    await waitFor(
      async () => {
        seen += new TextDecoder().decode((await events.read()).value);
        return seen.includes(id);
      },
      { timeoutMs: 10_000, message: "the event stream did not deliver the event" },
    );
    await events.cancel();
  });
});
