import { z } from "zod";

/** A serialized error, as apps send it and as run logs keep it. */
export const SerializedErrorSchema = z
  .object({
    name: z.string().default("Error"),
    message: z.string().default(""),
    stack: z.string().optional(),
  })
  .loose();
export type SerializedError = z.infer<typeof SerializedErrorSchema>;

export function toSerializedError(value: unknown): SerializedError {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  const parsed = SerializedErrorSchema.safeParse(value);
  if (parsed.success && typeof value === "object" && value !== null && "message" in value) return parsed.data;
  return {
    name: "Error",
    message: typeof value === "string" ? value : (JSON.stringify(value) ?? String(value)),
  };
}
