/**
 * Bulk operations on a function's runs, and who asked for them: replays (rerun every run that
 * failed or was cancelled in a time range), cancellations, pauses and resumes. Each is one record
 * in OPERATIONS, appended again as it progresses (the latest wins): the audit log of who did what
 * and when.
 */
import { z } from "zod";

export const OperationKinds = ["replay", "cancel", "pause", "resume"] as const;
export type OperationKind = (typeof OperationKinds)[number];

/** Who asked: the credential the request carried (never the key itself) and what they said. */
export const CallerSchema = z.object({
  /** `none` (jetstep dev without keys), `api key`, `signing key`. */
  credential: z.string(),
  /** The first 12 hex digits of the key's SHA-256, telling keys apart without revealing one. */
  keyId: z.string().optional(),
  /** What the caller calls itself (`X-Jetstep-Actor`, e.g. "dev UI" or a person's name): not verified. */
  actor: z.string().optional(),
  ip: z.string().optional(),
});
export type Caller = z.infer<typeof CallerSchema>;

export const OperationRecordSchema = z.object({
  id: z.string(),
  kind: z.enum(OperationKinds),
  fnId: z.string(),
  /** What the operation applies to (replays and cancellations). */
  filter: z
    .object({
      statuses: z.array(z.string()).optional(),
      from: z.number().optional(),
      to: z.number().optional(),
      if: z.string().optional(),
    })
    .optional(),
  reason: z.string().optional(),
  by: CallerSchema,
  at: z.number(),
  state: z.enum(["running", "done", "failed"]),
  /** Runs it applies to, and how many were done so far / could not be. */
  total: z.number().int().nonnegative().optional(),
  done: z.number().int().nonnegative().optional(),
  failed: z.number().int().nonnegative().optional(),
  /** The last progress and the end. */
  updatedAt: z.number(),
  endedAt: z.number().optional(),
  error: z.string().optional(),
});
export type OperationRecord = z.infer<typeof OperationRecordSchema>;

/** A PAUSES value: the function is paused since `at`, by the operation `operationId`. */
export const PauseRecordSchema = z.object({
  fnId: z.string(),
  at: z.number(),
  by: CallerSchema,
  operationId: z.string(),
  reason: z.string().optional(),
});
export type PauseRecord = z.infer<typeof PauseRecordSchema>;
