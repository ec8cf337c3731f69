export { callBody, callUrl } from "./app-client.ts";
export {
  AppendConflictError,
  buildExecutor,
  defaultExecutorConfig,
  type Executor,
  type ExecutorConfig,
  type ExecutorDeps,
} from "./executor.ts";
