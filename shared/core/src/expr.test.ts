import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidExpressionError } from "./errors.ts";
import { compileExpression, compileValueExpression, MAX_COMPREHENSIONS } from "./expr.ts";

const list = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(",")}]`;

describe("CEL expression cost bounds", () => {
  it("refuses nested comprehensions at compile time, naming the rule", () => {
    const cube = `${list(100)}.all(x, ${list(100)}.all(y, ${list(100)}.all(z, x + y + z >= 0)))`;
    for (const src of [
      cube,
      "event.data.a.exists(x, event.data.b.exists(y, x == y))",
      "[[1]].map(x, x.filter(y, y > 0))",
    ])
      assert.throws(
        () => compileExpression(src),
        (e: Error) => e instanceof InvalidExpressionError && /inside another is not allowed/.test(e.message),
        src,
      );
  });

  it("refuses more than the allowed number of comprehensions", () => {
    const many = Array.from(
      { length: MAX_COMPREHENSIONS + 1 },
      (_, i) => `event.data.l${i}.exists(x, x == 1)`,
    ).join(" || ");
    assert.throws(() => compileExpression(many), /at most 8 comprehensions/);
    const allowed = Array.from(
      { length: MAX_COMPREHENSIONS },
      (_, i) => `event.data.l${i}.exists(x, x == 1)`,
    ).join(" || ");
    assert.doesNotThrow(() => compileExpression(allowed));
  });

  it("refuses regular expressions that backtrack exponentially, and non-literal patterns", () => {
    assert.throws(() => compileExpression("event.data.s.matches('^(a+)+$')"), /exponential time/);
    assert.throws(() => compileExpression("matches(event.data.s, '(x*)*y')"), /exponential time/);
    assert.throws(() => compileExpression("event.data.s.matches(event.data.p)"), /literal string/);
    const ok = compileExpression("event.data.s.matches('^user-[0-9]+$')");
    assert.equal(ok.test({ event: { data: { s: "user-42" } } }).value, true);
  });

  it("still takes the expressions users write: one comprehension per list, keys, comparisons", () => {
    const fn = compileExpression("event.data.items.exists(i, i.sku == 'a') && event.data.total > 10");
    assert.equal(fn.test({ event: { data: { items: [{ sku: "a" }], total: 11 } } }).value, true);
    const key = compileValueExpression("event.data.items.map(i, i.sku)");
    assert.deepEqual(key.evaluate({ event: { data: { items: [{ sku: "a" }, { sku: "b" }] } } }).value, [
      "a",
      "b",
    ]);
  });
});
