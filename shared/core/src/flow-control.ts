/**
 * Concurrency limits as registered (`concurrency: n | {limit, key?, scope?} | [..]`, Inngest's
 * format), normalized. A limit applies to the steps executing at once (sleeping and waiting runs
 * hold no slot). `key` (CEL on the event) makes the limit per key value; `scope` `env` or
 * `account` shares a keyed limit across functions. A limit of 0 means no limit.
 */
import { z } from "zod";
import { type CompiledValueExpression, compileValueExpression } from "./expr.ts";
import { fnv1a64 } from "./hash.ts";
import type { StoredEvent } from "./schemas/event.ts";

export const ConcurrencyScopes = ["fn", "env", "account"] as const;
export type ConcurrencyScope = (typeof ConcurrencyScopes)[number];

const ItemSchema = z.union([
  z.number().int("must be an integer").min(0, "must be 0 or more"),
  z
    .object({
      limit: z.number().int("must be an integer").min(0, "must be 0 or more"),
      key: z.string().min(1, "must be a non-empty CEL expression").optional(),
      scope: z.enum(ConcurrencyScopes, { error: 'must be "fn", "env" or "account"' }).optional(),
    })
    .strict(),
]);
export const ConcurrencySchema = z.union([ItemSchema, z.array(ItemSchema).max(2, "at most 2 limits")]);

export interface ConcurrencySpec {
  limit: number;
  /** The key expression, compiled (its source is the registered `key`). */
  key?: CompiledValueExpression;
  scope: ConcurrencyScope;
}

/**
 * Normalizes a registered `concurrency` (already validated) into limits with compiled keys,
 * dropping `0` (no limit).
 */
export function concurrencySpecs(raw: unknown): ConcurrencySpec[] {
  if (raw === undefined || raw === null) return [];
  const parsed = ConcurrencySchema.safeParse(raw);
  if (!parsed.success) return [];
  const items = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
  return items
    .map((i) =>
      typeof i === "number"
        ? { limit: i, scope: "fn" as const }
        : {
            limit: i.limit,
            scope: i.scope ?? "fn",
            ...(i.key ? { key: compileValueExpression(i.key) } : {}),
          },
    )
    .filter((i) => i.limit > 0);
}

/** One concurrency limit of a run: the slot key it competes for and its size. */
export interface ConcurrencyKey {
  key: string;
  limit: number;
}

/**
 * The slot keys of a run of `fnId` started by `event`. A key expression that fails on the event
 * puts the run in the key's default bucket (`onKeyError` is told once per call).
 */
export function concurrencyKeys(
  fnId: string,
  specs: ConcurrencySpec[],
  event: StoredEvent,
  onKeyError: (key: string, error: string) => void,
): ConcurrencyKey[] {
  return specs.map((s) => {
    let value = "";
    if (s.key) {
      const r = s.key.evaluate({ event });
      if (r.error !== undefined) onKeyError(s.key.source, r.error);
      value = r.error === undefined ? fnv1a64(JSON.stringify(r.value) ?? "null").toString(16) : "default";
    }
    // Function scope: one limit per (function, expression, value); env/account scopes share the
    // value's limit across functions, whatever expression produced it.
    const key = s.scope === "fn" ? `${fnId}|${s.key?.source ?? ""}|${value}` : `${s.scope}|${value}`;
    return { key, limit: s.limit };
  });
}
