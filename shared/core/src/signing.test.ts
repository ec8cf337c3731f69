import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { describe, it } from "node:test";
import { callSignedText } from "./call-signature.ts";
import { hashSigningKey, signCall, signingSecret, signPayload } from "./signing.ts";

describe("signing", () => {
  it("signs with the key less its signkey-<env>- prefix, as Inngest's SDKs do", () => {
    assert.equal(signingSecret("signkey-prod-0a1b"), "0a1b");
    assert.equal(signingSecret("signkey-test_2-ff"), "ff");
    assert.equal(signingSecret("0a1b"), "0a1b", "no prefix: the key as it is");
    const hmac = (text: string) => createHmac("sha256", "0a1b").update(text).digest("hex");
    assert.equal(signPayload('{"a":1}', "signkey-prod-0a1b", "1700000000"), hmac('{"a":1}1700000000'));
    const url = new URL("http://app.test/api/inngest?stepId=s&fnId=f");
    assert.equal(
      signCall("signkey-prod-0a1b", "post", url, "1700000000", "{}"),
      hmac(callSignedText("POST", url, "1700000000", "{}")),
    );
  });

  it("hashes the key for apps to authenticate with: prefix kept, the hex rest's SHA-256", () => {
    const rest = createHash("sha256").update(Buffer.from("0a1b", "hex")).digest("hex");
    assert.equal(hashSigningKey("signkey-prod-0a1b"), `signkey-prod-${rest}`);
    assert.equal(hashSigningKey("0a1b"), rest);
  });
});
