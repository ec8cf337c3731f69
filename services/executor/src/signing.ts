/**
 * Request signing (PROTOCOL.md "Signing"): `X-Inngest-Signature: t=<unix s>&s=<hex>` where
 * s = HMAC-SHA256(signing key without its `signkey-<env>-` prefix, as text, body + t). A signed body
 * is sent in its RFC 8785 canonical form (JCS), which is what the official SDK verifies against, and
 * the signature covers exactly those bytes (canonicalised once). Unsigned (dev) calls skip JCS.
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
  if (!signingKey) return { text: JSON.stringify(body) ?? "null" };
  const text = canonicalize(body) ?? "null";
  const t = Math.floor(nowMs / 1000);
  const s = createHmac("sha256", signingSecret(signingKey))
    .update(text + t)
    .digest("hex");
  return { text, signature: `t=${t}&s=${s}` };
}
