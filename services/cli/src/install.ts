/**
 * `jetstep install [nats-server] [jaeger]`: builds the pinned programs into the cache with the Go
 * toolchain (once; a second run finds them and builds nothing). Default: nats-server.
 */
import { installTool, ToolchainError, type ToolSpec, Tools, toolByName } from "@jetstep/toolchain";

export const INSTALL_USAGE = `usage: jetstep install [nats-server] [jaeger] [--print-path]

Builds the pinned ${Tools.natsServer.name} ${Tools.natsServer.version} and ${Tools.jaeger.name} ${Tools.jaeger.version} from their Go modules
into the cache ($JETSTEP_CACHE_DIR, else $XDG_CACHE_HOME/jetstep, else ~/.cache/jetstep); needs Go.
Already built: nothing is rebuilt. --print-path prints each binary's path (and only that) on stdout.`;

export async function install(argv: string[]): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${INSTALL_USAGE}\n`);
    return;
  }
  const printPath = argv.includes("--print-path");
  const names = argv.filter((a) => !a.startsWith("-"));
  const badOption = argv.find((a) => a.startsWith("-") && a !== "--print-path");
  const badName = names.find((n) => !toolByName(n));
  if (badOption !== undefined || badName !== undefined) {
    const what = badOption !== undefined ? `option ${badOption}` : `program ${JSON.stringify(badName)}`;
    process.stderr.write(`jetstep install: unknown ${what}\n${INSTALL_USAGE}\n`);
    process.exit(2);
  }
  const tools = (names.length > 0 ? names : [Tools.natsServer.name]).map((n) => toolByName(n) as ToolSpec);
  const say = (line: string) => process.stderr.write(`jetstep install: ${line}\n`);
  for (const tool of tools) {
    try {
      const { path, built } = await installTool(tool, { log: say });
      if (!built) say(`${tool.name} ${tool.version} already built: ${path}`);
      if (printPath) process.stdout.write(`${path}\n`);
    } catch (e) {
      if (e instanceof ToolchainError) {
        process.stderr.write(`jetstep install: ${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
  }
}
