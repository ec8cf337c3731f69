export { cachedBinary, cacheRoot, installCommand } from "./cache.ts";
export { ToolchainError, type ToolchainErrorCode } from "./errors.ts";
export {
  type BinarySource,
  binaryVersion,
  type FoundBinary,
  locateNatsServer,
  requireJaeger,
  requireNatsServer,
} from "./find.ts";
export { findGo, type Installed, type InstallOptions, installTool } from "./install.ts";
export { type ToolName, type ToolSpec, Tools, toolByName } from "./tools.ts";
