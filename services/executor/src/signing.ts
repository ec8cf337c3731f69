/**
 * Request signing (PROTOCOL.md "Signing"): `X-Inngest-Signature: t=<unix s>&s=<hex>` where
 * s = HMAC-SHA256(signing key without its `signkey-<env>-` prefix, as text, body + t). The body is
 * sent in its RFC 8785 canonical form (JCS), which is what the official SDK verifies against.
 */
import { createHmac } from "node:crypto";
import canonicalizeModule from "canonicalize";

// A CommonJS module whose export is the function itself.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

export function signingSecret(signingKey: string): string {
  return signingKey.replace(/^signkey-[^-]+-/, "");
}

/** The canonical body to send and, with a key, its signature header value. */
export function signedBody(
  body: unknown,
  signingKey: string | undefined,
  nowMs: number,
): { text: string; signature?: string } {
  const text = canonicalize(body) ?? "null";
  if (!signingKey) return { text };
  const t = Math.floor(nowMs / 1000);
  const s = createHmac("sha256", signingSecret(signingKey))
    .update(text + t)
    .digest("hex");
  return { text, signature: `t=${t}&s=${s}` };
}
