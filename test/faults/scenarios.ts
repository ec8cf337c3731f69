/**
 * The faults, one per process type: SIGKILL and an immediate restart of each (nats-server on the
 * same store), and SIGSTOP of an executor until its leases expired, then SIGCONT. `baseline`
 * injects nothing: it shows what the measures read on a healthy stack.
 */
import { DEFAULT_PARTITIONS } from "@jetstep/jetstream";
import { waitFor } from "../support/index.ts";
import type { FaultTimes } from "./analysis.ts";
import type { FaultStack, Role } from "./stack.ts";

export interface InjectedFault extends FaultTimes {
  /** Preconditions the fault missed (the scenario then proves less than it says). */
  problems: string[];
}

interface Scenario {
  summary: string;
  inject(stack: FaultStack, leaseTtlMs: number): Promise<InjectedFault>;
}

const killAndRestart =
  (role: Role): Scenario["inject"] =>
  async (stack) => {
    const faultAt = Date.now();
    await stack.kill(role);
    const restartAt = Date.now();
    stack.restart(role);
    return { faultAt, restartAt, problems: [] };
  };

/**
 * Executor A is held stopped until its leases have expired and executor B holds every partition,
 * so B drives A's runs while A still believes it owns them; then A continues where it stopped.
 */
async function pauseExecutor(stack: FaultStack, leaseTtlMs: number): Promise<InjectedFault> {
  const problems: string[] = [];
  const faultAt = Date.now();
  stack.pause("executorA");
  try {
    await waitFor(
      async () => {
        const owners = [...(await stack.leaseHolders())]
          .filter(([key]) => key.startsWith("partition."))
          .map(([, owner]) => owner);
        return owners.length === DEFAULT_PARTITIONS && new Set(owners).size === 1;
      },
      { timeoutMs: 5 * leaseTtlMs + 10_000, intervalMs: 100, message: "executor B holding every partition" },
    );
  } catch (e) {
    problems.push(
      `stop-executor: A's partitions did not move to B while A was stopped: ${(e as Error).message}`,
    );
  }
  const restartAt = Date.now();
  stack.resume("executorA");
  return { faultAt, restartAt, problems };
}

async function killNats(stack: FaultStack): Promise<InjectedFault> {
  const url = stack.nats.url;
  const faultAt = Date.now();
  await stack.nats.kill("SIGKILL");
  const restartAt = Date.now();
  await stack.nats.restart();
  const problems =
    stack.nats.url === url
      ? []
      : [`kill-nats: nats-server came back on ${stack.nats.url}, not ${url}: the services cannot reconnect`];
  return { faultAt, restartAt, problems };
}

export const SCENARIOS = {
  baseline: {
    summary: "no fault",
    inject: async () => {
      const now = Date.now();
      return { faultAt: now, restartAt: now, problems: [] };
    },
  },
  "kill-executor": { summary: "SIGKILL executor A, start it again", inject: killAndRestart("executorA") },
  "stop-executor": {
    summary: "SIGSTOP executor A until B holds all its partitions, then SIGCONT",
    inject: pauseExecutor,
  },
  "kill-matcher": { summary: "SIGKILL the matcher, start it again", inject: killAndRestart("matcher") },
  "kill-gateway": { summary: "SIGKILL the gateway, start it again", inject: killAndRestart("gateway") },
  "kill-cron": { summary: "SIGKILL the cron process, start it again", inject: killAndRestart("cron") },
  "kill-app": { summary: "SIGKILL the app, start it again", inject: killAndRestart("app") },
  "kill-nats": { summary: "SIGKILL nats-server, restart it on the same store", inject: killNats },
} as const satisfies Record<string, Scenario>;

export type ScenarioName = keyof typeof SCENARIOS;
export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

export function isScenarioName(name: string): name is ScenarioName {
  return Object.hasOwn(SCENARIOS, name);
}
