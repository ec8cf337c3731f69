/**
 * `GET /v1/functions`: the registered functions with their triggers and options, and whether each
 * is paused (since when, by whom, why).
 *
 * `GET /v1/functions/:id/activity`: a function's activity over a time range, in bins (runs
 * started and ended by status, failure rate, run duration p50/p95, step attempts and errors, and
 * the calls waiting for a turn or a slot), merged from what every executor appended to ROLLUPS.
 * What the function page's charts draw.
 *
 *   ?from, ?to   ms since the epoch or ISO 8601 (default: the last hour up to now); at most 8 days
 *                apart (ROLLUPS keeps 8 days)
 *   ?step        a bin's width, a duration in whole minutes ("5m", "1h" or ms); default: the
 *                smallest of 1m, 5m, 15m, 30m, 1h, 3h, 6h giving at most 180 bins
 */
import {
  type ActivityPoint,
  InvalidDurationError,
  MINUTE_MS,
  mergeRollups,
  parseDuration,
} from "@jetstep/core";
import type { PauseStore, Registry, RollupLog } from "@jetstep/jetstream";
import type { FastifyInstance } from "fastify";
import { z } from "zod";

const MAX_SPAN_MS = 8 * 24 * 60 * MINUTE_MS;
const MAX_BINS = 1_440;
const DEFAULT_BINS = 180;
const STEP_LADDER = [1, 5, 15, 30, 60, 180, 360].map((m) => m * MINUTE_MS);

const time = z
  .union([
    z.coerce.number().int().nonnegative(),
    z.iso.datetime({ offset: true }).transform((v) => Date.parse(v)),
  ])
  .optional();

const QuerySchema = z.object({
  from: time,
  to: time,
  step: z
    .string()
    .transform((v, ctx) => {
      try {
        return parseDuration(/^\d+$/.test(v) ? Number(v) : v);
      } catch (e) {
        if (!(e instanceof InvalidDurationError)) throw e;
        ctx.addIssue({ code: "custom", message: 'must be a duration such as "5m" or "1h"' });
        return z.NEVER;
      }
    })
    .refine((ms) => ms > 0 && ms % MINUTE_MS === 0, { message: "must be a whole number of minutes" })
    .optional(),
});

export interface FunctionRoutesDeps {
  registry: Pick<Registry, "functions" | "getFunction">;
  rollups: Pick<RollupLog, "read">;
  pauses: Pick<PauseStore, "list">;
  now(): number;
}

export function registerFunctionRoutes(
  // biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
  app: FastifyInstance<any, any, any, any>,
  deps: FunctionRoutesDeps,
): void {
  app.get("/v1/functions", async () => {
    const paused = new Map((await deps.pauses.list()).map((p) => [p.fnId, p]));
    return {
      data: deps.registry.functions().map((f) => {
        const pause = paused.get(f.fn.id);
        return {
          id: f.fn.id,
          name: f.fn.name ?? f.fn.id,
          app_id: f.app.appId,
          triggers: f.fn.triggers,
          config: f.fn,
          paused: pause
            ? { at: new Date(pause.at).toISOString(), by: pause.by, reason: pause.reason ?? null }
            : null,
        };
      }),
    };
  });

  app.get<{ Params: { id: string } }>("/v1/functions/:id/activity", async (req, reply) => {
    const fnId = req.params.id;
    if (!deps.registry.getFunction(fnId))
      return reply.status(404).send({ error: `function ${fnId} not found` });
    const parsed = QuerySchema.safeParse(req.query);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      return reply.status(400).send({ error: `${i?.path.join(".") || "(query)"}: ${i?.message}` });
    }
    const to = parsed.data.to ?? deps.now();
    const from = parsed.data.from ?? to - 60 * MINUTE_MS;
    if (from >= to) return reply.status(400).send({ error: "from: must be before to" });
    if (to - from > MAX_SPAN_MS)
      return reply.status(400).send({ error: "from: at most 8 days before to (activity is kept 8 days)" });
    const step = parsed.data.step ?? defaultStep(to - from);
    if (Math.ceil((to - from) / step) > MAX_BINS)
      return reply
        .status(400)
        .send({ error: `step: ${step / MINUTE_MS} min gives more than ${MAX_BINS} bins for this range` });
    const start = Math.floor(from / step) * step;
    const points = mergeRollups(await deps.rollups.read(fnId, start, to), start, to, step);
    return {
      data: {
        function_id: fnId,
        from: new Date(start).toISOString(),
        to: new Date(to).toISOString(),
        step_ms: step,
        points: points.map(pointJson),
      },
    };
  });
}

function defaultStep(spanMs: number): number {
  return STEP_LADDER.find((s) => spanMs / s <= DEFAULT_BINS) ?? (STEP_LADDER.at(-1) as number);
}

function pointJson(p: ActivityPoint) {
  return {
    t: new Date(p.t).toISOString(),
    started: p.started,
    completed: p.completed,
    failed: p.failed,
    cancelled: p.cancelled,
    failure_rate: p.failureRate,
    p50_ms: p.p50Ms === null ? null : Math.round(p.p50Ms),
    p95_ms: p.p95Ms === null ? null : Math.round(p.p95Ms),
    step_attempts: p.stepAttempts,
    step_errors: p.stepErrors,
    backlog: p.backlog,
  };
}
