/**
 * What Jetstep's own call signature covers (`X-Jetstep-Signature: t=<unix s>&s=<hex>`, with
 * s = HMAC-SHA256(signing key without its `signkey-<env>-` prefix, this text)). The official SDK's
 * `X-Inngest-Signature` covers only the body and the time, so a captured call could be sent to
 * another function of the app (`?fnId=`) or step; this one also covers the method, the path the
 * app was registered under and the query, sorted so a proxy that reorders it does not matter.
 * Executors send both headers; our SDK requires this one.
 */
export const CALL_SIGNATURE_HEADER = "x-jetstep-signature";

export function callSignedText(method: string, url: URL, t: string, body: string): string {
  const query = new URLSearchParams(url.searchParams);
  query.sort();
  return ["jetstep-call-v1", method.toUpperCase(), url.pathname, query.toString(), t, body].join("\n");
}
