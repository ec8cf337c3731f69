export { freePort } from "./free-port.ts";
export {
  findNatsServer,
  type NatsServerHandle,
  NatsServerStartError,
  type StartNatsServerOptions,
  startNatsServer,
} from "./nats-server.ts";
export { type ProcExit, type SpawnTsOptions, spawnTs, type TsProcess } from "./proc.ts";
export { type Truthy, type WaitForOptions, WaitForTimeoutError, waitFor } from "./wait-for.ts";
