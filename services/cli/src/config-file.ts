/**
 * `jetstep dev` settings from a config file in the working directory — `jetstep.yaml`, or, for
 * people coming from Inngest, `inngest.yaml` / `inngest.json` — overridden by `JETSTEP_*` /
 * `INNGEST_*` environment variables, themselves overridden by flags. A bad file stops the CLI with
 * the file, the line and what is wrong.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isMap, LineCounter, parseDocument } from "yaml";
import { z } from "zod";

export const CONFIG_FILES = [
  "jetstep.yaml",
  "jetstep.yml",
  "inngest.yaml",
  "inngest.yml",
  "inngest.json",
] as const;

const Seconds = z.number({ error: "must be a number of seconds" }).nonnegative("must be 0 or more");

/** The settings a file may hold (Inngest's dev-server keys where they exist). */
export const FileSettingsSchema = z
  .object({
    urls: z.array(z.string().url("must be a URL"), { error: "must be a list of app URLs" }).optional(),
    "sdk-url": z
      .union([z.string().url("must be a URL"), z.array(z.string().url("must be a URL"))])
      .optional(),
    port: z.number({ error: "must be a port number" }).int().min(0).max(65535).optional(),
    host: z.string().min(1).optional(),
    "retry-interval": Seconds.optional(),
    "event-key": z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
    "nats-url": z.string().min(1).optional(),
    "log-level": z.enum(["trace", "debug", "info", "warn", "error"]).optional(),
  })
  .strict();
export type FileSettings = z.infer<typeof FileSettingsSchema>;

export class ConfigFileError extends Error {
  override name = "ConfigFileError";
}

/** Reads the first config file found in `dir` (or `explicit`), or undefined when there is none. */
export function loadConfigFile(
  dir: string,
  explicit?: string,
): { file: string; settings: FileSettings } | undefined {
  const file = explicit ?? CONFIG_FILES.map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigFileError(`${file}: cannot be read: ${(e as Error).message}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    const at = lines.linePos(syntax.pos[0]);
    throw new ConfigFileError(`${file}:${at.line}: ${syntax.message.split("\n")[0]}`);
  }
  const value = doc.toJS() ?? {};
  const parsed = FileSettingsSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.code === "unrecognized_keys" ? [issue.keys[0] as string] : (issue?.path ?? []);
    // Point at the offending key's line when the document has it.
    let line: number | undefined;
    if (isMap(doc.contents) && path.length > 0) {
      const node = doc.getIn(path.slice(0, 1), true) as { range?: [number, number, number] } | undefined;
      const pair = doc.contents.items.find((p) => (p.key as { value?: unknown })?.value === path[0]);
      const offset = (pair?.key as { range?: [number] } | undefined)?.range?.[0] ?? node?.range?.[0];
      if (offset !== undefined) line = lines.linePos(offset).line;
    }
    const field = path.length > 0 ? path.map(String).join(".") : "(file)";
    const message =
      issue?.code === "unrecognized_keys"
        ? `unknown setting (known: ${Object.keys(FileSettingsSchema.shape).join(", ")})`
        : issue?.message;
    throw new ConfigFileError(`${file}${line ? `:${line}` : ""}: ${field}: ${message}`);
  }
  return { file, settings: parsed.data };
}
