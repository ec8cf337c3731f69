import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { appUrlPolicy } from "./app-urls.ts";

describe("app URL policy (--allow-app-url)", () => {
  const policy = appUrlPolicy(["http://orders.internal:3001/api/inngest", "https://*.svc.example.com/api/*"]);

  it("allows only what a pattern names: scheme, host, port and path", () => {
    assert.equal(policy.problem("http://orders.internal:3001/api/inngest"), null);
    assert.equal(policy.problem("http://orders.internal:3001/api/inngest?fnId=a&stepId=step"), null);
    assert.equal(policy.problem("https://billing.svc.example.com/api/inngest"), null);
    assert.equal(policy.problem("https://a.b.svc.example.com:443/api/x"), null);
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "http://orders.internal:3002/api/inngest",
      "https://orders.internal:3001/api/inngest",
      "http://orders.internal:3001/api/other",
      "https://svc.example.com/api/inngest",
      "https://evil.example/svc.example.com/api/x",
      "https://billing.svc.example.com/admin",
    ])
      assert.match(policy.problem(url) ?? "", /is not an allowed app URL \(--allow-app-url: /, url);
  });

  it("always allows NATS workers; refuses credentials, other schemes and non-URLs", () => {
    assert.equal(policy.problem("nats://billing"), null);
    assert.match(policy.problem("http://u:p@orders.internal:3001/api/inngest") ?? "", /credentials/);
    assert.match(policy.problem("file:///etc/passwd") ?? "", /file: URLs are not supported/);
    assert.match(policy.problem("localhost:3000") ?? "", /not supported|not an absolute URL/);
  });

  it("with no patterns: every http(s) URL in dev, none in production", () => {
    assert.equal(appUrlPolicy(undefined).problem("http://10.0.0.1/x"), null);
    assert.match(appUrlPolicy([]).problem("http://10.0.0.1/x") ?? "", /--allow-app-url is not set/);
  });

  it("names a pattern that is not one", () => {
    assert.throws(() => appUrlPolicy(["not a url"]), /"not a url" is not a URL/);
    assert.throws(() => appUrlPolicy(["ftp://x/"]), /only http and https/);
  });
});
