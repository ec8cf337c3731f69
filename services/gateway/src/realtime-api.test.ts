/**
 * A durable endpoint's stream (`POST /v1/realtime/publish/tee`, `GET /v1/realtime/sse`) through
 * `app.inject()`, with a channel and run logs held in memory instead of the REALTIME and RUNS
 * streams.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChannelRead, RealtimeChannels } from "@jetstep/jetstream";
import { streamToken } from "./endpoint-api.ts";
import { registerRealtimeRoutes } from "./realtime-api.ts";
import { bodyOf, MemoryRunLog, noSnapshots, scheduled, stringBodyApp, then } from "./test-support.ts";

const RUN = "01JREALTIMERUN000000000001";

/** A channel in memory: `append`ed frames, and `read` yielding `reads` (then idle, once each). */
function memoryChannels(reads: ChannelRead[] = []) {
  const appended: { runId: string; frame: string }[] = [];
  const channels = {
    append: async (runId: string, frame: string) => {
      appended.push({ runId, frame });
    },
    async *read(_runId: string, _idleMs: number, signal: AbortSignal): AsyncGenerator<ChannelRead> {
      for (const r of reads) yield r;
      while (!signal.aborted) yield { idle: true };
    },
  };
  return { channels: channels as unknown as RealtimeChannels, appended };
}

async function realtimeApp(reads: ChannelRead[] = [], maxStreamBytes?: number) {
  const runLog = new MemoryRunLog();
  const { channels, appended } = memoryChannels(reads);
  const app = stringBodyApp();
  registerRealtimeRoutes(app, {
    channels,
    runLog: runLog.asRunLog(),
    snapshots: noSnapshots(),
    idleMs: 1,
    ...(maxStreamBytes ? { maxStreamBytes } : {}),
  });
  await app.ready();
  return { app, runLog, appended };
}

describe("POST /v1/realtime/publish/tee", () => {
  it("appends the body to the run's channel frame by frame, the rest as it is", async () => {
    const { app, appended } = await realtimeApp();
    for (const type of ["application/octet-stream", "text/plain"]) {
      appended.length = 0;
      const res = await app.inject({
        method: "POST",
        url: `/v1/realtime/publish/tee?channel=${RUN}`,
        headers: { "content-type": type },
        body: "event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c",
      });
      assert.equal(res.statusCode, 200, type);
      assert.deepEqual(
        appended.map((a) => [a.runId, a.frame]),
        [
          [RUN, "event: a\ndata: 1\n\n"],
          [RUN, "event: b\ndata: 2\n\n"],
          [RUN, "event: c"],
        ],
        type,
      );
    }
    await app.close();
  });

  it("refuses a channel that is not a run id (400) and a stream over its limit (413)", async () => {
    const { app, appended } = await realtimeApp([], 64);
    for (const url of ["/v1/realtime/publish/tee", "/v1/realtime/publish/tee?channel=a.b"]) {
      const res = await app.inject({ method: "POST", url, body: "data: 1\n\n" });
      assert.equal(res.statusCode, 400, url);
      assert.deepEqual(res.json(), { status: 400, error: "channel: give the run's id as ?channel=" });
    }
    const big = await app.inject({
      method: "POST",
      url: `/v1/realtime/publish/tee?channel=${RUN}`,
      headers: { "content-type": "application/octet-stream" },
      body: `data: ${"x".repeat(100)}\n\n`,
    });
    assert.equal(big.statusCode, 413);
    assert.deepEqual(bodyOf(big), { status: 413, error: "body: at most 64 bytes per stream" });
    assert.deepEqual(appended, []);
    await app.close();
  });
});

describe("GET /v1/realtime/sse", () => {
  const url = (token: string) => `/v1/realtime/sse?token=${encodeURIComponent(token)}`;

  it("refuses a token that is not the run's stream token with 401 (CORS open)", async () => {
    const { app } = await realtimeApp();
    for (const token of ["", RUN, `${RUN}.nope`, streamToken(RUN, "another-signing-key")]) {
      const res = await app.inject({ method: "GET", url: url(token) });
      assert.equal(res.statusCode, 401, token);
      assert.deepEqual(res.json(), { status: 401, error: "token: not a stream token of a run" });
      assert.equal(res.headers["access-control-allow-origin"], "*");
    }
    await app.close();
  });

  it("sends the channel's frames up to and including the endpoint's response", async () => {
    const response = 'event: inngest.response\ndata: {"status":"succeeded"}\n\n';
    const { app } = await realtimeApp([
      { frame: "data: 1\n\n" },
      { idle: true },
      { frame: response },
      { frame: "data: late\n\n" },
    ]);
    const res = await app.inject({ method: "GET", url: url(streamToken(RUN, undefined)) });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers["content-type"], "text/event-stream");
    assert.equal(res.body, `data: 1\n\n${response}`);
    await app.close();
  });

  it("ends a run that ended without a response frame with one made from how it ended", async () => {
    const { app, runLog } = await realtimeApp([{ frame: "data: partial\n\n" }]);
    runLog.runs.set(RUN, [
      scheduled(RUN, "shop-stream"),
      ...then({ type: "run.cancelled", reason: "by the user" }),
    ]);
    const res = await app.inject({ method: "GET", url: url(streamToken(RUN, undefined)) });
    assert.equal(res.statusCode, 200);
    const [first, second] = res.body.split("\n\n");
    assert.equal(first, "data: partial");
    assert.ok(second?.startsWith("event: inngest.response\ndata: "), second);
    const data = JSON.parse((second ?? "").slice("event: inngest.response\ndata: ".length));
    assert.deepEqual(data, {
      status: "failed",
      response: {
        body: JSON.stringify({ name: "Cancelled", message: "by the user" }),
        statusCode: 500,
        headers: { "content-type": "application/json" },
      },
    });
    await app.close();
  });
});
