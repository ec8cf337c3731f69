export { CLI_SOURCE, spawnCli } from "./cli.ts";
export { type FakeNatsServer, startFakeNatsServer } from "./fake-nats-server.ts";
export { freePort } from "./free-port.ts";
export {
  JAEGER_CONFIG,
  type JaegerHandle,
  JaegerStartError,
  type StartJaegerOptions,
  startJaeger,
} from "./jaeger.ts";
export {
  findNatsServer,
  type NatsServerHandle,
  NatsServerStartError,
  type StartNatsServerOptions,
  startNatsServer,
} from "./nats-server.ts";
export { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./otlp-receiver.ts";
export { type ProcExit, type SpawnTsOptions, spawnProcess, spawnTs, type TsProcess } from "./proc.ts";
export { type Truthy, type WaitForOptions, WaitForTimeoutError, waitFor } from "./wait-for.ts";
