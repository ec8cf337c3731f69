/** Shared fixtures for this package's tests (not exported from index.ts). */
import { createHash } from "node:crypto";
import type { HttpAnswer } from "./answer.ts";
import { Jetstep } from "./client.ts";
import type { JetstepOptions } from "./client-options.ts";
import { createRequestHandler, type ServeOptions } from "./comm-handler.ts";
import type { Logger } from "./logger.ts";
import { signCall } from "./signature.ts";

export const sha1 = (s: string): string => createHash("sha1").update(s).digest("hex");

/** A logger that records lines instead of printing them. */
export function memoryLogger(
  lines: { level: string; bindings: Record<string, unknown>; args: unknown[] }[] = [],
  bindings: Record<string, unknown> = {},
): Logger {
  const at =
    (level: string) =>
    (...args: unknown[]) => {
      lines.push({ level, bindings, args });
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => memoryLogger(lines, { ...bindings, ...more }),
  };
}

/** A client with no env, a silent logger, and a fixed clock. */
export function testClient(options: Partial<JetstepOptions> = {}): Jetstep {
  return new Jetstep({
    id: "app",
    env: {},
    logger: memoryLogger(),
    now: () => 1_700_000_000_000,
    ...options,
  });
}

/** A call body as the executor sends it. */
export function callBody(
  opts: {
    event?: Record<string, unknown>;
    steps?: Record<string, unknown>;
    attempt?: number;
    maxAttempts?: number | null;
    stack?: string[];
    disableImmediateExecution?: boolean;
    /** Defers Jetstep already recorded (the call body's `defers`). */
    defers?: Record<string, { abortable?: boolean }>;
  } = {},
): Record<string, unknown> {
  const event = opts.event ?? { name: "test/event", data: { userId: "u1" }, id: "evt-1", ts: 1 };
  const steps = opts.steps ?? {};
  const stack = opts.stack ?? Object.keys(steps);
  return {
    event,
    events: [event],
    steps,
    ...(opts.defers ? { defers: opts.defers } : {}),
    ctx: {
      run_id: "run-1",
      attempt: opts.attempt ?? 0,
      max_attempts: opts.maxAttempts === null ? undefined : (opts.maxAttempts ?? 5),
      stack: { stack, current: stack.length },
      disable_immediate_execution: opts.disableImmediateExecution ?? false,
      use_api: false,
      env: "dev",
      step_id: "step",
    },
    version: 2,
  };
}

export interface DrivenAnswer extends HttpAnswer {
  json: unknown;
}

/** Drives the framework-independent handler with a fabricated request (no network). */
export async function drive(
  options: ServeOptions,
  req: {
    method?: string;
    fnId?: string;
    stepId?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    path?: string;
  },
): Promise<DrivenAnswer> {
  const handler = createRequestHandler(options, "test");
  const url = new URL(req.path ?? "/api/inngest", "http://app.local:3000");
  if (req.fnId !== undefined) url.searchParams.set("fnId", req.fnId);
  url.searchParams.set("stepId", req.stepId ?? "step");
  const headers = Object.fromEntries(Object.entries(req.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const answer = await handler({
    method: req.method ?? "POST",
    url,
    header: (name) => headers[name.toLowerCase()],
    readBody: async () =>
      req.rawBody !== undefined
        ? { kind: "raw", text: req.rawBody }
        : req.body === undefined
          ? { kind: "none" }
          : { kind: "raw", text: JSON.stringify(req.body) },
  });
  return { ...answer, json: answer.body === "" ? undefined : JSON.parse(answer.body) };
}

/** Starts a loopback HTTP server on an ephemeral port; `close()` stops it. */
export async function listen(
  listener: (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void,
): Promise<{ url: string; close: () => Promise<void> }> {
  const { createServer } = await import("node:http");
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

/** A fake gateway that records requests and answers with `reply`. */
export async function fakeGateway(
  reply: (req: { method: string; url: string; body: string }) => { status: number; body: unknown },
) {
  const received: {
    method: string;
    url: string;
    headers: import("node:http").IncomingHttpHeaders;
    body: string;
  }[] = [];
  const server = await listen((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => {
      body += c.toString("utf8");
    });
    req.on("end", () => {
      const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
      received.push(entry);
      const r = reply(entry);
      res.writeHead(r.status, { "content-type": "application/json" });
      res.end(typeof r.body === "string" ? r.body : JSON.stringify(r.body));
    });
  });
  return { ...server, received };
}

/** An `X-Jetstep-Signature` header for a POST of `body` to `pathAndQuery`, as the executor signs it. */
export function callSignature(
  key: string,
  pathAndQuery: string,
  body: string,
  t: string,
): { "x-jetstep-signature": string } {
  const s = signCall(key, "POST", new URL(pathAndQuery, "http://app.local"), t, body);
  return { "x-jetstep-signature": `t=${t}&s=${s}` };
}
