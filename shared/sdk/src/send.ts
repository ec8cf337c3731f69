import { z } from "zod";
import { SendEventError } from "./errors.ts";
import type { EventInput } from "./step-tools.ts";
import { traceHeaders } from "./tracing.ts";
import { SDK_IDENT } from "./version.ts";
import { Header } from "./wire.ts";

const replySchema = z.looseObject({
  ids: z.array(z.string()).default([]),
  status: z.number().optional(),
  error: z.string().optional(),
});

/**
 * POSTs events to `${baseUrl}/e/${eventKey ?? "dev"}` as a JSON array (`data` defaults to `{}`, `ts`
 * to now) and returns the gateway's `{ ids }`, in input order. An empty list sends nothing.
 * Throws SendEventError: `status` 0 when the gateway can't be reached, else the HTTP status with the
 * gateway's `error` message. No retries here — inside `step.sendEvent` the step's retries apply.
 */
export async function sendEvents(args: {
  baseUrl: string;
  eventKey: string | undefined;
  events: readonly EventInput[];
  fetch: typeof fetch;
  now: () => number;
}): Promise<{ ids: string[] }> {
  if (args.events.length === 0) return { ids: [] };
  const ts = args.now();
  const body = args.events.map((e, i) => {
    if (typeof e?.name !== "string" || e.name === "")
      throw new SendEventError(0, `send(): events[${i}].name must be a non-empty string`);
    return { ...e, data: e.data ?? {}, ts: e.ts ?? ts };
  });
  const url = `${args.baseUrl}/e/${encodeURIComponent(args.eventKey ?? "dev")}`;
  let res: Response;
  try {
    res = await args.fetch(url, {
      method: "POST",
      headers: { [Header.ContentType]: "application/json", [Header.Sdk]: SDK_IDENT, ...traceHeaders() },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    throw new SendEventError(
      0,
      `send(): could not reach ${url}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text === "" ? {} : JSON.parse(text);
  } catch {
    json = undefined;
  }
  const reply = replySchema.safeParse(json);
  if (!res.ok || !reply.success || reply.data.error !== undefined) {
    const message =
      reply.success && reply.data.error ? reply.data.error : text.slice(0, 500) || res.statusText;
    throw new SendEventError(res.status, `send(): gateway answered ${res.status}: ${message}`);
  }
  return { ids: reply.data.ids };
}
