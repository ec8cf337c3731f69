export { type Runtime, type RuntimeOptions, startAppSync, startRuntime } from "./runtime.ts";
