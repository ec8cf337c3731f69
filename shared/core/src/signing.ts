/**
 * Request signing's keys and HMACs, in one place for the SDK, the executor and the gateway. A
 * signing key is `signkey-<env>-<hex>`; HMACs use what follows the prefix, as text (as Inngest's
 * SDKs do). Apps authenticate to the server with a hash of the key (`hashSigningKey`), never the
 * key itself.
 */
import { createHash, createHmac } from "node:crypto";
import { callSignedText } from "./call-signature.ts";

/** The `signkey-<env>-` prefix of a signing key (Inngest's pattern). */
const KEY_PREFIX = /^signkey-\w+-/;

/** The HMAC secret of a signing key: the key without its `signkey-<env>-` prefix. */
export function signingSecret(signingKey: string): string {
  return signingKey.replace(KEY_PREFIX, "");
}

/** Hex HMAC-SHA256 of `payload + t` (`X-Inngest-Signature`). */
export function signPayload(payload: string, signingKey: string, t: string): string {
  return createHmac("sha256", signingSecret(signingKey))
    .update(payload + t)
    .digest("hex");
}

/** Hex HMAC-SHA256 of a call as `callSignedText` writes it (`X-Jetstep-Signature`). */
export function signCall(signingKey: string, method: string, url: URL, t: string, body: string): string {
  return createHmac("sha256", signingSecret(signingKey))
    .update(callSignedText(method, url, t, body))
    .digest("hex");
}

/** `signkey-<env>-<hex(sha256(hexDecode(rest)))>`: the bearer token apps send to the server. */
export function hashSigningKey(signingKey: string): string {
  const prefix = KEY_PREFIX.exec(signingKey)?.[0] ?? "";
  const rest = signingKey.slice(prefix.length);
  return `${prefix}${createHash("sha256").update(Buffer.from(rest, "hex")).digest("hex")}`;
}
