/**
 * Security checklist, part 5 (issue 15): a crafted CEL expression cannot tie up the gateway. One
 * that could cost more than linear in the event (nested comprehensions, too many of them, a
 * backtracking pattern) is refused when it comes in, with a 400 that says why; a usual one works.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { signingBearer } from "../e2e/harness.ts";
import { startGateway } from "./gateway.ts";

const SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef";
const API_KEY = "operate-key-0123456789abcdef";
const hundred = `[${Array.from({ length: 100 }, (_, i) => i).join(",")}]`;
/** 100³ iterations: blocked the event loop for seconds before the bound. */
const CUBED = `${hundred}.all(x, ${hundred}.all(y, ${hundred}.all(z, x + y + z >= 0)))`;

describe("expression cost", () => {
  let gw: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    gw = await startGateway({ signingKey: SIGNING_KEY, eventKeys: ["k"], apiKeys: [API_KEY] });
  });
  after(async () => {
    await gw?.stop();
  });

  const cancel = (expression: string) =>
    fetch(`${gw.url}/v1/cancellations`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ function_id: "app-fn", if: expression }),
    });
  const register = (expression: string) =>
    fetch(`${gw.url}/fn/register`, {
      method: "POST",
      headers: { authorization: signingBearer(SIGNING_KEY), "content-type": "application/json" },
      body: JSON.stringify({
        url: "http://127.0.0.1:9/api/inngest",
        appName: "costly",
        functions: [
          {
            id: "costly-f",
            name: "f",
            triggers: [{ event: "costly/go", expression }],
            steps: {
              step: {
                id: "step",
                name: "step",
                runtime: { type: "http", url: "http://127.0.0.1:9/api/inngest?fnId=costly-f&stepId=step" },
              },
            },
          },
        ],
      }),
    });

  it("refuses nested comprehensions in a cancellation's `if` (400 naming the rule)", async () => {
    const r = await cancel(CUBED);
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: string }).error, /^if: .*inside another is not allowed/);
  });

  it("refuses them in a trigger's `if` at registration, and registers nothing", async () => {
    const r = await register(CUBED);
    assert.equal(r.status, 400);
    assert.match(
      ((await r.json()) as { error: string }).error,
      /^functions\.0\.triggers\.0\.expression: .*inside another is not allowed/,
    );
    const apps = (await (
      await fetch(`${gw.url}/v1/apps`, { headers: { authorization: `Bearer ${API_KEY}` } })
    ).json()) as { data: unknown[] };
    assert.deepEqual(apps.data, []);
  });

  it("refuses a backtracking pattern and too many comprehensions", async () => {
    const backtracking = await cancel('event.data.s.matches("(a+)+$")');
    assert.equal(backtracking.status, 400);
    assert.match(((await backtracking.json()) as { error: string }).error, /exponential time/);
    const many = Array.from({ length: 9 }, () => "event.data.l.exists(x, x == 1)").join(" || ");
    const tooMany = await cancel(many);
    assert.equal(tooMany.status, 400);
    assert.match(((await tooMany.json()) as { error: string }).error, /at most 8 comprehensions/);
  });

  it("takes usual expressions", async () => {
    const ok = await cancel('event.data.items.exists(i, i.sku == "tea") && event.data.total > 10');
    assert.equal(ok.status, 200, await ok.text());
    const registered = await register('event.data.tags.all(t, t != "test")');
    assert.equal(registered.status, 200, await registered.text());
  });
});
