/**
 * Request signing (docs/PROTOCOL.md, "Signatures"): `X-Inngest-Signature: t=<unix s>&s=<hex>` where
 * s = HMAC-SHA256(signing key without its `signkey-<env>-` prefix, as text, body + t). A signed body
 * is sent in its RFC 8785 canonical form (JCS), which is what the official SDK verifies against, and
 * the signature covers exactly those bytes (canonicalised once). Unsigned (dev) calls skip JCS.
 * Next to it goes `X-Jetstep-Signature`, which also covers the method, path and query
 * (`callSignedText`); our SDK requires that one.
 */
import { signCall, signPayload } from "@jetstep/core";
import canonicalizeModule from "canonicalize";

// A CommonJS module whose export is the function itself.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

export interface SignedBody {
  text: string;
  /** `X-Inngest-Signature` (body and time). */
  signature?: string;
  /** `X-Jetstep-Signature` (method, path, query, body and time). */
  callSignature?: string;
}

/** The canonical body to POST to `target` and, with a key, its signature header values. */
export function signedBody(
  body: unknown,
  signingKey: string | undefined,
  nowMs: number,
  target: URL,
): SignedBody {
  if (!signingKey) return { text: JSON.stringify(body) ?? "null" };
  const text = canonicalize(body) ?? "null";
  const t = String(Math.floor(nowMs / 1000));
  const s = signPayload(text, signingKey, t);
  const call = signCall(signingKey, "POST", target, t, text);
  return { text, signature: `t=${t}&s=${s}`, callSignature: `t=${t}&s=${call}` };
}

/**
 * `X-Inngest-Signature` of a call to a durable endpoint, which carries the endpoint's original
 * request body (`body`) rather than a call body. The official SDK verifies it over that body as it
 * reads it: parsed JSON in canonical form for POST and PUT, the empty string otherwise.
 */
export function endpointSignature(method: string, body: string, signingKey: string, nowMs: number): string {
  let signed = "";
  if ((method === "POST" || method === "PUT") && body !== "") {
    try {
      signed = canonicalize(JSON.parse(body)) ?? "";
    } catch {
      signed = body; // the SDK cannot take a body that is not JSON either; it will refuse the call
    }
  }
  const t = String(Math.floor(nowMs / 1000));
  return `t=${t}&s=${signPayload(signed, signingKey, t)}`;
}
