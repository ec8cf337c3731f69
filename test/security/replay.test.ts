/**
 * Security checklist, part 3 (issue 15): a captured call cannot be replayed to an app on our SDK.
 * Every call Jetstep signs carries a new `ctx.request_id`, and the app accepts a signature once; the
 * signature covers the method, path and query too, so a call cannot be redirected to another function.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { Jetstep, serve } from "jetstep";
import { callBody } from "../../services/executor/src/app-client.ts";
import { type SignedBody, signedBody } from "../../services/executor/src/signing.ts";
import { SeenSignatures } from "../../shared/sdk/src/signature.ts";

const SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef";

describe("replayed calls", () => {
  let server: Server;
  let url = "";
  let runs = 0;

  before(async () => {
    const client = new Jetstep({ id: "replay", signingKey: SIGNING_KEY, serveOrigin: "http://x", env: {} });
    const fn = client.createFunction({ id: "charge" }, { event: "pay" }, async () => {
      runs++;
      return "charged";
    });
    const other = client.createFunction({ id: "refund" }, { event: "refund" }, async () => "refunded");
    server = createServer(serve({ client, functions: [fn, other] }));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/inngest`;
  });
  after(() => {
    server?.close();
  });

  /** A call to `fnId` as the executor signs it. */
  const signedCall = (fnId = "replay-charge") => {
    const now = Date.now();
    const ctx = {
      runId: "01RUN",
      maxAttempts: 1,
      event: { id: "e1", name: "pay", data: {}, ts: now },
      events: [{ id: "e1", name: "pay", data: {}, ts: now }],
      steps: {},
      stepOrder: [],
    } as unknown as Parameters<typeof callBody>[0];
    return signedBody(
      callBody(ctx, { attempt: 0 } as Parameters<typeof callBody>[1]),
      SIGNING_KEY,
      now,
      new URL(`${url}?fnId=${fnId}&stepId=step`),
    );
  };
  const send = (fnId: string, call: SignedBody) =>
    fetch(`${url}?fnId=${fnId}&stepId=step`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-inngest-signature": call.signature ?? "",
        "x-jetstep-signature": call.callSignature ?? "",
      },
      body: call.text,
    });

  it("refuses a call signed for one function and sent to another (401); the signature covers the query", async () => {
    const call = signedCall("replay-charge");
    const misdirected = await send("replay-refund", call);
    assert.equal(misdirected.status, 401);
    assert.match(((await misdirected.json()) as { error: string }).error, /invalid signature/);
    assert.equal(runs, 0);
    const intended = await send("replay-charge", call);
    assert.equal(intended.status, 200, await intended.text());
    assert.equal(runs, 1);
    runs = 0;
  });

  it("runs a signed call once; the same call sent again gets 401", async () => {
    const call = signedCall();
    const first = await send("replay-charge", call);
    assert.equal(first.status, 200, await first.text());
    assert.equal(runs, 1);
    const again = await send("replay-charge", call);
    assert.equal(again.status, 401);
    assert.match(((await again.json()) as { error: string }).error, /signature already used/);
    assert.equal(runs, 1, "the replay ran nothing");
  });

  it("signs no two calls alike, even for the same run, step and second", () => {
    const a = signedCall();
    const b = signedCall();
    assert.notEqual(a.signature, b.signature);
    assert.notEqual(
      (JSON.parse(a.text) as { ctx: { request_id: string } }).ctx.request_id,
      (JSON.parse(b.text) as { ctx: { request_id: string } }).ctx.request_id,
    );
  });

  it("forgets signatures once they expire, and keeps at most its bound", () => {
    const seen = new SeenSignatures(3);
    const t = 1_000_000;
    const header = (s: string, sec = t) => `t=${sec}&s=${s}`;
    assert.equal(seen.admit(header("a"), t * 1000), true);
    assert.equal(seen.admit(header("a"), t * 1000 + 1000), false);
    assert.equal(
      seen.admit(header("a"), t * 1000 + 5 * 60_000 + 1),
      true,
      "expired: its time check refuses it anyway",
    );
    for (const s of ["b", "c", "d", "e"]) seen.admit(header(s), t * 1000);
    assert.ok(seen.size <= 3);
  });
});
