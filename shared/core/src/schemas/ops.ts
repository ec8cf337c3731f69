import { z } from "zod";
import { SerializedErrorSchema } from "./error.ts";

/** Op codes an app answers with (Inngest's protocol). */
export const OpCodes = {
  stepRun: "StepRun",
  stepPlanned: "StepPlanned",
  stepError: "StepError",
  stepFailed: "StepFailed",
  sleep: "Sleep",
  waitForEvent: "WaitForEvent",
  invokeFunction: "InvokeFunction",
  runComplete: "RunComplete",
  step: "Step",
  deferAdd: "DeferAdd",
  deferAbort: "DeferAbort",
  /** "Call me again to discover what comes next" (the official SDK, at its checkpointing time limit). */
  discoveryRequest: "DiscoveryRequest",
} as const;
export type OpCodes = (typeof OpCodes)[keyof typeof OpCodes];

export const OpSchema = z
  .object({
    id: z.string().min(1),
    op: z.string().min(1),
    name: z.string().optional(),
    displayName: z.string().optional(),
    opts: z.record(z.string(), z.unknown()).nullish(),
    data: z.unknown().optional(),
    error: SerializedErrorSchema.optional().catch(undefined),
  })
  .loose();
export type Op = z.infer<typeof OpSchema>;

export const OpsSchema = z.array(OpSchema);
