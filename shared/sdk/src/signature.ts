import { timingSafeEqual } from "node:crypto";
import { CALL_SIGNATURE_HEADER, hashSigningKey, signCall, signPayload } from "@jetstep/core/protocol";
import { canonicalJson } from "./canonical-json.ts";

/** Signatures older or newer than this are rejected. */
export const SIGNATURE_MAX_SKEW_MS = 5 * 60 * 1000;

/** A request body as the serve adapter got it: the raw text, or a value a framework already parsed. */
export type ReceivedBody =
  | { kind: "raw"; text: string }
  | { kind: "parsed"; value: unknown }
  | { kind: "none" };

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/**
 * Verifies the call signature `X-Jetstep-Signature: t=<unix s>&s=<hex>`, where `s = HMAC-SHA256(key,
 * callSignedText(method, url, t, body))` and key = signing key without its `signkey-<env>-` prefix,
 * as text: it covers the method, the path the app is served under, the query, the body and the
 * time. `url` is the request's URL with the registered path (a proxy may have rewritten the one
 * received). The body may be the raw bytes or the JCS form of the parsed JSON (what a framework
 * that parsed it gives back); either is accepted. Each key in `keys` (primary, then fallback) is
 * tried. Never throws.
 */
export function verifySignature(args: {
  header: string | undefined;
  method: string;
  url: URL;
  body: ReceivedBody;
  keys: readonly string[];
  nowMs: number;
}): SignatureCheck {
  if (!args.header) return { ok: false, reason: `missing ${CALL_SIGNATURE_HEADER}` };
  const params = new URLSearchParams(args.header);
  const t = params.get("t") ?? "";
  const s = params.get("s") ?? "";
  if (!/^\d+$/.test(t) || !/^[0-9a-f]+$/i.test(s))
    return { ok: false, reason: `malformed ${CALL_SIGNATURE_HEADER}` };
  if (Math.abs(args.nowMs - Number(t) * 1000) > SIGNATURE_MAX_SKEW_MS)
    return { ok: false, reason: "signature expired" };
  const given = Buffer.from(s.toLowerCase(), "hex");
  for (const payload of signedPayloads(args.body)) {
    for (const key of args.keys) {
      const expected = Buffer.from(signCall(key, args.method, args.url, t, payload), "hex");
      if (expected.length === given.length && timingSafeEqual(expected, given)) return { ok: true };
    }
  }
  return { ok: false, reason: "invalid signature" };
}

/**
 * Signatures already accepted, until they expire (SIGNATURE_MAX_SKEW_MS after their time): a call
 * captured on the way and sent again is refused. Jetstep puts a new `ctx.request_id` in every call,
 * so no two genuine calls share a signature. Per process: with several app instances behind a load
 * balancer, a replay to another instance within the window is not caught. At most `max` are kept
 * (the oldest go first): about 100 bytes each.
 */
export class SeenSignatures {
  private readonly seen = new Map<string, number>();

  constructor(private readonly max = 100_000) {}

  /** Records `header`'s signature; false when it was already accepted and has not expired. */
  admit(header: string, nowMs: number): boolean {
    const params = new URLSearchParams(header);
    const s = params.get("s") ?? "";
    const expires = Number(params.get("t") ?? 0) * 1000 + SIGNATURE_MAX_SKEW_MS;
    const known = this.seen.get(s);
    if (known !== undefined && known > nowMs) return false;
    // Expired ones are dropped in insertion order (roughly time order) as new ones come.
    for (const [key, until] of this.seen) {
      if (until > nowMs && this.seen.size < this.max) break;
      this.seen.delete(key);
    }
    this.seen.set(s, expires);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

// The HMACs and the key hash are core's (one copy for the SDK, the executor and the gateway).
export { hashSigningKey, signCall, signPayload };

/**
 * What the signature may cover, cheapest first: the raw bytes (Jetstep signs exactly what it
 * sends), then the canonical form — computed only if the raw bytes did not match.
 */
function* signedPayloads(body: ReceivedBody): Generator<string> {
  switch (body.kind) {
    case "none":
      yield "";
      return;
    case "parsed":
      yield canonicalJson(body.value);
      return;
    case "raw": {
      yield body.text;
      let canonical: string;
      try {
        canonical = canonicalJson(JSON.parse(body.text));
      } catch {
        return; // not JSON: only the raw form can match
      }
      if (canonical !== body.text) yield canonical;
      return;
    }
    default: {
      const _exhaustive: never = body;
      return _exhaustive;
    }
  }
}
