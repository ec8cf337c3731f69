/** `jetstep`'s help: the commands, and each command's options. */
import { USAGE } from "./args.ts";
import { INSTALL_USAGE } from "./install.ts";
import { START_USAGE } from "./start-args.ts";

export const HELP = `usage: jetstep <command> [options]

commands:
  dev       a local dev server: an embedded nats-server, every service, the UI and the API
  start     production services on an external NATS (one process per service, or all in one)
  install   build the pinned nats-server and Jaeger into the cache (needs Go)

"jetstep <command> --help" shows a command's options.`;

const USAGES: Record<string, string> = { dev: USAGE, start: START_USAGE, install: INSTALL_USAGE };

/** Help asked for (`jetstep`, `jetstep help [command]`, `jetstep [command] --help`): its text. */
export function helpFor(argv: string[]): string | undefined {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h")
    return (command === "help" && rest[0] !== undefined ? USAGES[rest[0]] : undefined) ?? HELP;
  if (rest.includes("--help") || rest.includes("-h")) return USAGES[command] ?? HELP;
  return undefined;
}
