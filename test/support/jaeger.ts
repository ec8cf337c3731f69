import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { requireJaeger, ToolchainError } from "@jetstep/toolchain";
import { trackChild } from "./child-registry.ts";
import { freePort } from "./free-port.ts";
import { keepAlive } from "./keep-alive.ts";
import { waitFor } from "./wait-for.ts";

/** The Jaeger config docker compose runs, and so does `startJaeger` (with its listeners moved). */
export const JAEGER_CONFIG = fileURLToPath(new URL("../../infra/jaeger/config.yaml", import.meta.url));

export interface StartJaegerOptions {
  /** How long to wait for the query API and the OTLP receiver to answer; default 30 s. */
  startTimeoutMs?: number;
}

export interface JaegerHandle {
  /** `http://127.0.0.1:<port>`: the OTLP/HTTP receiver, for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly otlpHttpUrl: string;
  /** `http://127.0.0.1:<port>`: the OTLP/gRPC receiver. */
  readonly otlpGrpcUrl: string;
  /** `http://127.0.0.1:<port>`: the query API (`/api/traces/<id>`) and the UI. */
  readonly queryUrl: string;
  readonly pid: number;
  /** SIGKILL and wait for the exit (traces live in memory only). Idempotent. */
  stop(): Promise<void>;
  /** Everything Jaeger printed, for failure messages. */
  output(): string;
}

/** Jaeger could not be found or did not start; the message includes its output. */
export class JaegerStartError extends Error {
  override readonly name = "JaegerStartError";
  readonly code = "JAEGER_START";
}

const MAX_OUTPUT_CHARS = 1_000_000;
// freePort() is only a hint: another process may bind the port first. Jaeger then exits naming
// the address, and a start on fresh ports is the fix.
const PORT_TAKEN = /address already in use/i;
const START_ATTEMPTS = 3;

/**
 * Starts the cached Jaeger (`jetstep install jaeger`) with `infra/jaeger/config.yaml`, every
 * listener moved to a free port on 127.0.0.1, and resolves once both the query API and the OTLP
 * receiver answer. The process is SIGKILLed when the test process exits, `stop()` or not.
 * Throws `JaegerStartError` when the binary is missing (naming the command that builds it), exits
 * or does not answer within `startTimeoutMs`.
 */
export async function startJaeger(opts: StartJaegerOptions = {}): Promise<JaegerHandle> {
  let bin: string;
  try {
    bin = requireJaeger();
  } catch (e) {
    if (e instanceof ToolchainError) throw new JaegerStartError(e.message);
    throw e;
  }
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  for (let attempt = 1; ; attempt++) {
    const jaeger = new JaegerImpl(bin, await pickPorts());
    try {
      await jaeger.launch(timeoutMs);
      return jaeger;
    } catch (err) {
      await jaeger.stop();
      if (attempt >= START_ATTEMPTS || !PORT_TAKEN.test(jaeger.output())) throw err;
    }
  }
}

interface Ports {
  otlpHttp: number;
  otlpGrpc: number;
  queryHttp: number;
  queryGrpc: number;
}

async function pickPorts(): Promise<Ports> {
  const ports = new Set<number>();
  // Four distinct ports: freePort() may hand out one just closed again.
  while (ports.size < 4) ports.add(await freePort());
  const [otlpHttp, otlpGrpc, queryHttp, queryGrpc] = [...ports] as [number, number, number, number];
  return { otlpHttp, otlpGrpc, queryHttp, queryGrpc };
}

class JaegerImpl implements JaegerHandle {
  readonly otlpHttpUrl: string;
  readonly otlpGrpcUrl: string;
  readonly queryUrl: string;
  readonly #bin: string;
  readonly #args: string[];
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #exitInfo: string | undefined;
  #output = "";

  constructor(bin: string, ports: Ports) {
    this.#bin = bin;
    const at = (port: number) => `127.0.0.1:${port}`;
    this.otlpHttpUrl = `http://${at(ports.otlpHttp)}`;
    this.otlpGrpcUrl = `http://${at(ports.otlpGrpc)}`;
    this.queryUrl = `http://${at(ports.queryHttp)}`;
    this.#args = [
      "--config",
      `file:${JAEGER_CONFIG}`,
      "--set",
      `receivers.otlp.protocols.http.endpoint=${at(ports.otlpHttp)}`,
      "--set",
      `receivers.otlp.protocols.grpc.endpoint=${at(ports.otlpGrpc)}`,
      "--set",
      `extensions.jaeger_query.http.endpoint=${at(ports.queryHttp)}`,
      "--set",
      `extensions.jaeger_query.grpc.endpoint=${at(ports.queryGrpc)}`,
    ];
  }

  get pid(): number {
    return this.#child?.pid ?? -1;
  }

  output(): string {
    return this.#output;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined || this.#exitInfo !== undefined) return;
    child.kill("SIGKILL");
    await keepAlive(this.#exited);
  }

  async launch(timeoutMs: number): Promise<void> {
    const child = spawn(this.#bin, this.#args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    trackChild(child);
    this.#exited = new Promise<void>((resolve) => {
      child.once("error", (err) => {
        this.#exitInfo ??= `spawn error: ${err.message}`;
        resolve();
      });
      child.once("exit", (code, signal) => {
        this.#exitInfo ??= `exited with code ${code}, signal ${signal}`;
        resolve();
      });
    });
    child.stdout?.setEncoding("utf8").on("data", (s: string) => this.#append(s));
    child.stderr?.setEncoding("utf8").on("data", (s: string) => this.#append(s));
    // As with nats-server: a forgotten stop() must not keep the test process alive.
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();

    // The collector starts its extensions (the query API) before its receivers: wait for both.
    let ready: true | { exited: string };
    try {
      ready = await waitFor(
        async () => {
          if (this.#exitInfo !== undefined) return { exited: this.#exitInfo };
          return (await this.#queryAnswers()) && (await this.#otlpAnswers());
        },
        { timeoutMs, intervalMs: 100, message: `Jaeger at ${this.queryUrl} and ${this.otlpHttpUrl}` },
      );
    } catch (err) {
      throw this.#fail((err as Error).message);
    }
    if (ready !== true) {
      // Let the output streams drain so the error shows why.
      await new Promise((resolve) => setTimeout(resolve, 50));
      throw this.#fail(ready.exited);
    }
  }

  async #queryAnswers(): Promise<boolean> {
    const res = await fetch(`${this.queryUrl}/api/services`, { signal: AbortSignal.timeout(2_000) });
    await res.body?.cancel();
    return res.status === 200;
  }

  /** An empty OTLP/JSON export is accepted (200) once the receiver is up. */
  async #otlpAnswers(): Promise<boolean> {
    const res = await fetch(`${this.otlpHttpUrl}/v1/traces`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      signal: AbortSignal.timeout(2_000),
    });
    await res.body?.cancel();
    return res.status === 200;
  }

  #fail(why: string): JaegerStartError {
    return new JaegerStartError(
      `jaeger ${why}\n  command: ${this.#bin} ${this.#args.join(" ")}\n--- output ---\n${this.#output}`,
    );
  }

  #append(s: string): void {
    this.#output += s;
    if (this.#output.length > MAX_OUTPUT_CHARS) this.#output = this.#output.slice(-MAX_OUTPUT_CHARS);
  }
}
