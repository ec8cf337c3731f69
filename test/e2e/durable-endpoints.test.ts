/**
 * Durable endpoints of the official SDK v4 (`inngest.endpoint` through `inngest/node`): an HTTP
 * handler whose steps are durable. In sync mode the app's own request runs it and reports its
 * steps; a sleep or a failing step makes it async (the caller is redirected to the output URL) and
 * Jetstep calls the endpoint again to finish it, with every completed step run once. v3 (its
 * `inngest/edge` adapter) speaks the same protocol.
 */
import assert from "node:assert/strict";
import http, { type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Inngest, NonRetriableError, step } from "inngest";
import { stream } from "inngest/experimental/durable-endpoints";
import { fetchWithStream } from "inngest/experimental/durable-endpoints/client";
import { endpointAdapter, serveEndpoint } from "inngest/node";
import { outputToken } from "../../services/gateway/src/endpoint-api.ts";
import { freePort, spawnTs, type TsProcess, waitFor } from "../support/index.ts";
import { type ApiRun, apiFetch, getRun, type Stack, startStack } from "./harness.ts";

/** A `fetch` for the SDK that notes the run each new durable endpoint run creates, by its path. */
function recordingRuns(created: Map<string, string>): typeof fetch {
  return async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url.endsWith("/v1/checkpoint") && typeof init?.body === "string") {
      const body = JSON.parse(init.body) as { run_id: string; event: { data: { path: string } } };
      created.set(body.event.data.path, body.run_id);
    }
    return fetch(input, init);
  };
}

/** The run once it has ended. */
function endedRun(url: string, runId: string): Promise<ApiRun> {
  return waitFor(
    async () => {
      const run = await getRun(url, runId);
      return run && run.status !== "Running" ? run : undefined;
    },
    { timeoutMs: 20_000, message: `run ${runId} did not end` },
  );
}

describe("durable endpoints (official SDK v4)", () => {
  let stack: Stack;
  let server: Server | undefined;
  let base = "";
  const ran = new Map<string, number>();
  const count = (name: string) => ran.set(name, (ran.get(name) ?? 0) + 1);
  /** Run ids the SDK created, by the path of the request that created them. */
  const created = new Map<string, string>();
  /** The requests Jetstep sent to resume runs. */
  const resumed: { method: string; url: string; contentType: string | undefined; body: string }[] = [];

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const recordingFetch = recordingRuns(created);
    const client = new Inngest({
      id: "endpoints",
      isDev: true,
      baseUrl: stack.url,
      endpointAdapter,
      fetch: recordingFetch,
    });
    const routes: Record<string, (req: Request) => Promise<Response>> = {
      "/hello": client.endpoint(async (req: Request) => {
        const name = new URL(req.url).searchParams.get("name") ?? "nobody";
        const a = await step.run("greet", () => {
          count("hello:greet");
          return `hello ${name}`;
        });
        const b = await step.run("shout", () => {
          count("hello:shout");
          return a.toUpperCase();
        });
        return Response.json({ a, b });
      }),
      // (The SDK reads the request's body itself before the handler runs: the handler cannot.)
      "/nap": client.endpoint(async (req: Request) => {
        const n = Number(new URL(req.url).searchParams.get("n"));
        const a = await step.run("before", () => {
          count("nap:before");
          return n + 1;
        });
        await step.sleep("nap", "200ms");
        const b = await step.run("after", () => {
          count("nap:after");
          return a * 10;
        });
        return Response.json({ a, b });
      }),
      "/both": client.endpoint(async () => {
        const [x, y] = await Promise.all([
          step.run("left", () => {
            count("both:left");
            return "l";
          }),
          step.run("right", () => {
            count("both:right");
            return "r";
          }),
        ]);
        return Response.json({ joined: x + y });
      }),
      // Streams in sync mode, then (after the sleep) from calls Jetstep makes; its second step
      // fails once after streaming, so what it streamed then is rolled back.
      "/stream": client.endpoint(async () => {
        await step.run("one", async () => {
          stream.push("a");
          return 1;
        });
        await step.sleep("pause", "100ms");
        await step.run("two", async () => {
          count("stream:two");
          const attempt = ran.get("stream:two") ?? 0;
          stream.push(`b${attempt}`);
          if (attempt === 1) throw new Error("two fails once");
          return 2;
        });
        return Response.json({ done: true });
      }),
      "/flaky": client.endpoint(async () => {
        const a = await step.run("steady", () => {
          count("flaky:steady");
          return 1;
        });
        const b = await step.run("flaky", () => {
          count("flaky:flaky");
          if ((ran.get("flaky:flaky") ?? 0) < 2) throw new Error("fails once");
          return 2;
        });
        return Response.json({ sum: a + b });
      }),
    };
    server = http.createServer((req, res) => {
      const path = (req.url ?? "/").split("?")[0] as string;
      if (req.headers["x-run-id"]) {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () =>
          resumed.push({
            method: req.method ?? "",
            url: req.url ?? "",
            contentType: req.headers["content-type"],
            body: Buffer.concat(chunks).toString(),
          }),
        );
      }
      const handler = routes[path];
      if (!handler) {
        res.writeHead(404).end();
        return;
      }
      void serveEndpoint(handler)(req, res);
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await stack?.stop();
  });

  const ended = (runId: string) => endedRun(stack.url, runId);

  it("sync: the endpoint answers itself, and its run records each step once", async () => {
    const res = await fetch(`${base}/hello?name=ada`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { a: "hello ada", b: "HELLO ADA" });
    const runId = created.get("/hello");
    assert.ok(runId, "the SDK created no run");
    const run = (await ended(runId)) as ApiRun;
    assert.equal(run.status, "Completed", JSON.stringify(run.error));
    assert.deepEqual(
      run.steps.map((s) => [s.name, s.status, s.output]),
      [
        ["greet", "completed", "hello ada"],
        ["shout", "completed", "HELLO ADA"],
      ],
    );
    assert.equal(run.function_id, `127-0-0-1-${new URL(base).port}-get-hello`);
    assert.deepEqual([ran.get("hello:greet"), ran.get("hello:shout")], [1, 1]);
  });

  it("a sleep makes it async: the caller is redirected to the output, which waits for the end", async () => {
    const res = await fetch(`${base}/nap?n=4`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ n: 4 }),
      redirect: "manual",
    });
    assert.equal(res.status, 302);
    const location = res.headers.get("location") ?? "";
    assert.match(location, new RegExp(`^${stack.url}/v1/http/runs/[0-9A-Z]+/output\\?token=`));
    const output = await fetch(location);
    assert.equal(output.status, 200);
    assert.deepEqual(await output.json(), { data: { a: 5, b: 50 } });
    const runId = created.get("/nap") as string;
    const run = (await ended(runId)) as ApiRun;
    assert.equal(run.status, "Completed");
    assert.deepEqual(
      run.steps.map((s) => [s.name, s.status]),
      [
        ["before", "completed"],
        ["nap", "completed"],
        ["after", "completed"],
      ],
    );
    assert.deepEqual([ran.get("nap:before"), ran.get("nap:after")], [1, 1]);
    // Resumed with the original request.
    assert.deepEqual(resumed.at(-1), {
      method: "POST",
      url: "/nap?n=4",
      contentType: "application/json",
      body: JSON.stringify({ n: 4 }),
    });
  });

  it("parallel steps make it async: Jetstep calls the endpoint for each, then to finish", async () => {
    const res = await fetch(`${base}/both`, { redirect: "manual" });
    assert.equal(res.status, 302);
    const output = await fetch(res.headers.get("location") as string);
    assert.deepEqual(await output.json(), { data: { joined: "lr" } });
    const run = (await ended(created.get("/both") as string)) as ApiRun;
    assert.equal(run.status, "Completed");
    assert.deepEqual(run.steps.map((s) => [s.name, s.status]).sort(), [
      ["left", "completed"],
      ["right", "completed"],
    ]);
    assert.deepEqual([ran.get("both:left"), ran.get("both:right")], [1, 1]);
  });

  it("streaming: the caller reads on from Jetstep once the run is async, rollbacks included", async () => {
    const seen: string[] = [];
    const res = await fetchWithStream(`${base}/stream`, {
      onData: ({ data }) => seen.push(`data ${String(data)}`),
      onRollback: () => seen.push("rollback"),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { done: true });
    assert.deepEqual(seen, ["data a", "data b1", "rollback", "data b2"]);
    const run = (await ended(created.get("/stream") as string)) as ApiRun;
    assert.equal(run.status, "Completed");
  });

  it("a run cancelled while it streams ends its readers with a failed response", async () => {
    // A run as the SDK creates it (sync mode), without an app: nobody will finish it.
    const runId = "01JSTREAMCANCELLED000000000";
    const created = await fetch(`${stack.url}/v1/checkpoint`, {
      method: "POST",
      body: JSON.stringify({
        run_id: runId,
        event: {
          name: "inngest/http.request",
          data: { domain: base, method: "GET", path: "/nowhere", query_params: "", body: "" },
        },
        steps: [{ id: "s1", op: "StepRun", name: "s1", data: 1 }],
      }),
    });
    assert.equal(created.status, 200);
    const { data } = (await created.json()) as { data: { realtime_token: string } };
    const tee = await fetch(`${stack.url}/v1/realtime/publish/tee?channel=${runId}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: 'event: inngest.stream\ndata: {"data":"partial"}\n\n',
    });
    assert.equal(tee.status, 200);
    const reading = fetch(`${stack.url}/v1/realtime/sse?token=${data.realtime_token}`).then((r) => r.text());
    const cancel = await apiFetch(`${stack.url}/v1/runs/${runId}`, { method: "DELETE" });
    assert.equal(cancel.status, 200);
    const text = await reading;
    assert.match(text, /^event: inngest\.stream\ndata: \{"data":"partial"\}\n\n/);
    assert.match(text, /event: inngest\.response\ndata: \{"status":"failed".*"statusCode":500/);
  });

  it("a failing step is retried by Jetstep calling the endpoint again; steps done are not run again", async () => {
    const res = await fetch(`${base}/flaky`, { redirect: "manual" });
    assert.equal(res.status, 302);
    const output = await fetch(res.headers.get("location") as string);
    assert.deepEqual(await output.json(), { data: { sum: 3 } });
    const run = (await ended(created.get("/flaky") as string)) as ApiRun;
    assert.equal(run.status, "Completed");
    const flaky = run.steps.find((s) => s.name === "flaky");
    assert.equal(flaky?.attempts, 2);
    assert.deepEqual([ran.get("flaky:steady"), ran.get("flaky:flaky")], [1, 2]);
  });

  it("the output needs the run's token; reports are checked", async () => {
    const runId = created.get("/hello") as string;
    const wrong = await fetch(`${stack.url}/v1/http/runs/${runId}/output?token=nope`);
    assert.equal(wrong.status, 401);
    const bad = await fetch(`${stack.url}/v1/checkpoint`, {
      method: "POST",
      body: JSON.stringify({ run_id: "01JX", event: { name: "inngest/http.request", data: {} }, steps: [] }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /^event\.data\.domain: /);
    const unknown = await fetch(`${stack.url}/v1/checkpoint/01NOSUCHRUN/steps`, {
      method: "POST",
      body: JSON.stringify({ run_id: "01NOSUCHRUN", fn_id: "x", app_id: "y", steps: [] }),
    });
    assert.equal(unknown.status, 404);
    const other = await fetch(`${stack.url}/v1/checkpoint/${runId}/steps`, {
      method: "POST",
      body: JSON.stringify({ run_id: runId, fn_id: "someone-else", app_id: "y", steps: [] }),
    });
    assert.equal(other.status, 409);
    const sse = await fetch(`${stack.url}/v1/realtime/sse?token=${runId}.nope`);
    assert.equal(sse.status, 401);
    const tee = await fetch(`${stack.url}/v1/realtime/publish/tee?channel=a.b`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: "event: x\ndata: 1\n\n",
    });
    assert.equal(tee.status, 400);
    const actions = await apiFetch(`${stack.url}/v0/runs/${runId}/actions`);
    assert.deepEqual(Object.values((await actions.json()) as Record<string, unknown>), [
      { data: "hello ada" },
      { data: "HELLO ADA" },
    ]);
  });
});

describe("durable endpoints: a request that dies or ends without a word", () => {
  let stack: Stack;
  let server: Server | undefined;
  let base = "";
  const ran = new Map<string, number>();
  const count = (name: string) => ran.set(name, (ran.get(name) ?? 0) + 1);
  const created = new Map<string, string>();

  before(async () => {
    // Sync mode ends 1 s after the last report: then Jetstep calls the endpoint to go on.
    stack = await startStack({ retryIntervalMs: 50, endpointSyncTimeoutMs: 1000 });
    const recordingFetch = recordingRuns(created);
    const client = new Inngest({
      id: "endpoints-lost",
      isDev: true,
      baseUrl: stack.url,
      endpointAdapter,
      fetch: recordingFetch,
    });
    const routes: Record<string, (req: Request) => Promise<Response>> = {
      // The first request hangs in its second step (as if its process died there).
      "/hang": client.endpoint(async () => {
        const a = await step.run("first", () => {
          count("hang:first");
          return 1;
        });
        const b = await step.run("stuck", async () => {
          count("hang:stuck");
          if (ran.get("hang:stuck") === 1) await new Promise(() => {});
          return 2;
        });
        return Response.json({ a, b });
      }),
      // A non-retriable error outside steps: the SDK answers the caller 400 and reports nothing.
      "/refuse": client.endpoint(async () => {
        await step.run("fine", () => {
          count("refuse:fine");
          return "ok";
        });
        throw new NonRetriableError("refused for good");
      }),
    };
    server = http.createServer((req, res) => {
      const handler = routes[(req.url ?? "/").split("?")[0] as string];
      if (handler) void serveEndpoint(handler)(req, res);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    server?.close();
    await stack?.stop();
  });

  const ended = (runId: string) => endedRun(stack.url, runId);

  it("a run whose request hangs is finished by calling the endpoint again; its done step is not run again", async () => {
    void fetch(`${base}/hang`).catch(() => {}); // never answered
    const runId = await waitFor(() => created.get("/hang"), { timeoutMs: 10_000, message: "no run created" });
    const run = (await ended(runId)) as ApiRun;
    assert.equal(run.status, "Completed", JSON.stringify(run.error));
    assert.deepEqual([ran.get("hang:first"), ran.get("hang:stuck")], [1, 2]);
    const output = await fetch(
      `${stack.url}/v1/http/runs/${runId}/output?token=${outputToken(runId, undefined)}`,
    );
    assert.deepEqual(await output.json(), { data: { a: 1, b: 2 } });
  });

  it("a run that failed for good in the caller's request is failed by Jetstep", async () => {
    const res = await fetch(`${base}/refuse`);
    assert.equal(res.status, 400);
    const run = (await ended(created.get("/refuse") as string)) as ApiRun;
    assert.equal(run.status, "Failed");
    assert.equal(run.error?.message, "refused for good");
    assert.equal(ran.get("refuse:fine"), 1);
  });
});

describe("durable endpoints with a signing key (as jetstep start runs)", () => {
  const signingKey = "signkey-test-00112233445566778899aabbccddeeff";
  let stack: Stack;
  let server: Server | undefined;
  let base = "";
  const ran = new Map<string, number>();

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50, signingKey });
    const client = new Inngest({
      id: "endpoints-signed",
      isDev: false,
      signingKey,
      baseUrl: stack.url,
      endpointAdapter,
    });
    const handler = client.endpoint(async (req: Request) => {
      const who = new URL(req.url).searchParams.get("who");
      const a = await step.run("first", () => {
        ran.set("first", (ran.get("first") ?? 0) + 1);
        return `hi ${who}`;
      });
      await step.sleep("pause", "100ms");
      return Response.json({ a });
    });
    server = http.createServer((req, res) => void serveEndpoint(handler)(req, res));
    await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.close();
    await stack?.stop();
  });

  it("reports carry the hashed key, and the resumed call's signature over the original body verifies", async () => {
    // A JSON body: the SDK verifies the signature over it in canonical form.
    const res = await fetch(`${base}/greet?who=bo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ z: 1, a: [2, { y: 3, b: 4 }] }),
      redirect: "manual",
    });
    assert.equal(res.status, 302);
    const output = await fetch(res.headers.get("location") as string);
    assert.equal(output.status, 200, await output.clone().text());
    assert.deepEqual(await output.json(), { data: { a: "hi bo" } });
    assert.equal(ran.get("first"), 1);
  });

  it("refuses reports without the key", async () => {
    const res = await fetch(`${stack.url}/v1/checkpoint`, { method: "POST", body: "{}" });
    assert.equal(res.status, 401);
    const steps = await fetch(`${stack.url}/v1/checkpoint/01ABC/steps`, { method: "POST", body: "{}" });
    assert.equal(steps.status, 401);
    const actions = await fetch(`${stack.url}/v0/runs/01ABC/actions`);
    assert.equal(actions.status, 401);
  });
});

const V3_ENDPOINT = fileURLToPath(new URL("../fixtures/inngest-v3-endpoint.ts", import.meta.url));

describe("durable endpoints (official SDK v3, inngest/edge)", () => {
  let stack: Stack;
  let app: TsProcess | undefined;
  let base = "";

  before(async () => {
    stack = await startStack({ retryIntervalMs: 50 });
    const port = await freePort();
    app = spawnTs(V3_ENDPOINT, [], { env: { PORT: String(port), INNGEST_BASE_URL: stack.url } });
    await app.waitForLine(/listening/, 30_000);
    base = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await app?.kill("SIGKILL");
    await stack?.stop();
  });

  it("sleeps through a redirect and finishes with each step run once", async () => {
    const res = await fetch(`${base}/calc?n=5`, { redirect: "manual" });
    assert.equal(res.status, 302);
    const output = await fetch(res.headers.get("location") as string);
    assert.deepEqual(await output.json(), { data: { a: 10, b: 11 } });
    const counts = (await (await fetch(`${base}/counts`)).json()) as {
      ran: Record<string, number>;
      created: string[];
    };
    assert.deepEqual(counts.ran, { double: 1, inc: 1 });
    const run = await getRun(stack.url, counts.created[0] as string);
    assert.equal(run?.status, "Completed");
    assert.deepEqual(
      run?.steps.map((s) => [s.name, s.status]),
      [
        ["double", "completed"],
        ["wait-a-bit", "completed"],
        ["inc", "completed"],
      ],
    );
  });
});
