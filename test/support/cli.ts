/**
 * The `jetstep` command as tests start it. Under `npm test` that is the bundle of the CLI that the
 * package ships (`JETSTEP_TEST_CLI`, built by scripts/run-tests.mjs with build-package.mjs
 * --cli-only): it starts on about half the CPU of the TypeScript sources under tsx, which the
 * suite's hundred-odd `jetstep` processes feel. A test file run on its own (`node --import tsx
 * --test …`) starts the sources, so an edit is tested without a build.
 */
import { fileURLToPath } from "node:url";
import { type SpawnTsOptions, spawnProcess, spawnTs, type TsProcess } from "./proc.ts";

export const CLI_SOURCE = fileURLToPath(new URL("../../services/cli/src/main.ts", import.meta.url));

/** Starts `jetstep ...args`. */
export function spawnCli(args: readonly string[], opts: SpawnTsOptions = {}): TsProcess {
  const bundle = process.env.JETSTEP_TEST_CLI;
  return bundle ? spawnProcess(process.execPath, [bundle, ...args], opts) : spawnTs(CLI_SOURCE, args, opts);
}
